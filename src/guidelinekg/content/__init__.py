"""Guideline content on disk: where the shipped files are, and reading RDF files with their locations.

Owns: the paths of the shipped vocabulary, guidelines, shapes and queries (``resources``); Turtle parsed
file by file into named graphs so every finding has a file and line (``loading``); RDF files by extension,
gzip included (``rdffiles``); the seed of a new guideline, from templates shipped as package data
(``scaffold``, ``templates/``).

May import: :mod:`guidelinekg.errors` only. Everything above reads content through here.
"""
