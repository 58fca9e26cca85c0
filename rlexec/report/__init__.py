"""The report: PNG plots and a Markdown summary of a training + comparison run."""
