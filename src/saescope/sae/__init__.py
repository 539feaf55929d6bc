"""Sparse autoencoders: architectures (registry), training, metrics, checkpoints, estimator.

```python
from saescope.sae import SparseAutoencoder, SAEConfig, TrainConfig, train_sae, encode_csr
result = train_sae(X_train, TrainConfig(sae=SAEConfig(k=32, expansion_factor=8)), out_dir="sae")
codes = encode_csr(result.sae, X)                   # scipy CSR [N, M]
sae = SparseAutoencoder.load("sae")                 # cfg.json + sae.safetensors (sparsify layout)
run_train(TrainRunConfig(input="emb.parquet", out="sae"))  # the stage, as `saescope train` runs it
```
"""

from saescope.sae.config import SAEConfig, TrainConfig, TrainRunConfig
from saescope.sae.encode import decode_csr, encode_csr, write_codes_parquet
from saescope.sae.model import SparseAutoencoder
from saescope.sae.outputs import EncoderOutput, ForwardOutput
from saescope.sae.run import run_train
from saescope.sae.sources import parquet_batches
from saescope.sae.train import TrainResult, train_sae

__all__ = [
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
    "run_train",
    "train_sae",
    "write_codes_parquet",
]
