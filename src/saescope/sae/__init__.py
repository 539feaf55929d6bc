"""Sparse autoencoders: architectures (registry), training, metrics, checkpoints, estimator.

```python
from saescope.sae import SparseAutoencoder, SAEConfig, TrainConfig, train_sae, encode_csr
result = train_sae(X_train, TrainConfig(sae=SAEConfig(k=32, expansion_factor=8)), out_dir="sae")
codes = encode_csr(result.sae, X)                   # scipy CSR [N, M]
sae = SparseAutoencoder.load("sae")                 # cfg.json + sae.safetensors (sparsify layout)
manifest = run_train(TrainRunConfig(input="emb.parquet", out="sae"))  # the stage, as `saescope train`
run_encode(EncodeConfig(sae="sae", input="emb.parquet", out="codes.parquet"))  # `saescope encode`
```
"""

from saescope.lazy import lazy_exports

_EXPORTS = {
    "EncodeConfig": "saescope.sae.config",
    "SAEConfig": "saescope.sae.config",
    "TrainConfig": "saescope.sae.config",
    "TrainRunConfig": "saescope.sae.config",
    "decode_csr": "saescope.sae.encode",
    "encode_csr": "saescope.sae.encode",
    "write_codes_parquet": "saescope.sae.encode",
    "SparseAutoencoder": "saescope.sae.model",
    "EncoderOutput": "saescope.sae.outputs",
    "ForwardOutput": "saescope.sae.outputs",
    "run_encode": "saescope.sae.run",
    "run_train": "saescope.sae.run",
    "parquet_batches": "saescope.sae.sources",
    "TrainResult": "saescope.sae.train",
    "train_sae": "saescope.sae.train",
}
"""Name -> module it is imported from on first use (nothing heavy at `import saescope.sae`)."""
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "EncodeConfig",
    "EncoderOutput",
    "ForwardOutput",
    "SAEConfig",
    "SparseAutoencoder",
    "TrainConfig",
    "TrainResult",
    "TrainRunConfig",
    "decode_csr",
    "encode_csr",
    "parquet_batches",
    "run_encode",
    "run_train",
    "train_sae",
    "write_codes_parquet",
]
