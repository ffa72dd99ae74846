"""Evaluation: run methods over content/style pairs, measure metrics and write the HTML report and charts."""
