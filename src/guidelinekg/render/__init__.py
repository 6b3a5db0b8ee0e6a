"""A guideline version rendered from its graph alone, as Markdown (``guidelinekg render``).

Owns: reading a guideline graph through ``queries/reports/render-*.rq`` (``view``), the rendering
(``guideline``) of its statements (``statements``) and references (``references``), and number and text
formatting (``text``). Knows only the vocabulary, never a particular guideline.

May import: :mod:`guidelinekg.engine` (the store) and below.
"""
