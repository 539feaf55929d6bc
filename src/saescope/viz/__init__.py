"""Look at a run folder: figures (`plots.plot_run`) and a self-contained HTML report
(`report.write_report`). `rundata.RunData` reads the artifacts; `analysis` holds the numbers
behind the pictures; `sample_run` builds a small real run folder for tests and quick looks.
"""
