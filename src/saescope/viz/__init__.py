"""Look at a run folder: figures (`plots.plot_run`) and a self-contained HTML report
(`report.write_report`). `rundata.RunData` reads the artifacts; `analysis` holds the numbers
behind the pictures; a small real run folder for tests is built by `tests/viz/viz_sample_run.py`.
"""
