"""A patient's report, read from the result graph the rules derived: data first, then text.

Owns: the report as a JSON-ready object per patient (``patient``), explanations of each criterion's
outcome (``explain``), reading rows back out of the store (``graphread``), and the text and Markdown
renderings of the report object (``views``), and a cohort's ``summary.csv`` counted from report
objects (``summary``). A new output format of ``recommend`` renders the object of
``patient`` and goes here.

May import: :mod:`guidelinekg.engine` and below.
"""
