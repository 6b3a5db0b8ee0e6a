"""The patient records an explanation names beside a criterion's outcome, as SPARQL over the rule store.

Each query gives rows of ``?patient ?c ?record ?recordStatus`` (and ``?reason``): the records an undecided
criterion rests on with what leaves each undecided, the exposures and allergy records a true criterion rests
on, the condition records a decided diagnosis rests on (with their dates), and the record a code below a
listed one matched.
:class:`~guidelinekg.report.explain.Explainer` joins them to the outcomes.
"""

# The patient records an undecided diagnosis, procedure, exposure or allergy criterion rests on (rules 45, 35,
# 47, 27: the records of the standing that decided it), each with what leaves it undecided: what the reader checks; for
# an exposure, why it is undecided (?reason: an unverified code, or a course finished on a date not recorded, or
# of status unknown without an end).
RECORDS = """
SELECT ?patient ?c ?record ?recordStatus ?reason WHERE {
  ?out gkg:truth gkg:Unknown ; gkg:forPatient ?patient ; gkg:criterion ?c ; prov:wasDerivedFrom ?rec .
  { ?rec a gkg:Condition OPTIONAL { ?rec gkg:conditionVerificationStatus ?s BIND(CONCAT(" is ", ?s) AS ?recordStatus) } }
  UNION { ?rec a gkg:ProcedureRecord
          OPTIONAL { ?rec gkg:procedureStatus ?s BIND(CONCAT(" has status ", ?s) AS ?recordStatus) } }
  UNION { ?rec a gkg:MedicationExposure ; gkg:possibleSubstance ?ps . ?c gkg:exposureClass ?cls . ?ps gkg:memberOfClass/skos:broader* ?cls
          OPTIONAL { ?ps rdfs:label ?psl } BIND(CONCAT(" (perhaps ", COALESCE(STR(?psl), STR(?ps)), ")") AS ?recordStatus)
          BIND("a product named only by a code the guideline lists as unverified for a substance of the class" AS ?reason) }
  UNION { ?rec a gkg:AllergyRecord ; gkg:presentAsOf gkg:Unknown
          OPTIONAL { ?rec gkg:conditionVerificationStatus ?s BIND(CONCAT(" is ", ?s) AS ?recordStatus) } }
  UNION { ?rec a gkg:AllergyRecord ; gkg:possibleAllergen ?ps . ?c gkg:allergenClass ?cls . ?ps gkg:memberOfClass/skos:broader* ?cls
          OPTIONAL { ?ps rdfs:label ?psl } BIND(CONCAT(" (perhaps ", COALESCE(STR(?psl), STR(?ps)), ")") AS ?recordStatus)
          BIND(IF(EXISTS { ?rec gkg:allergenTextNegated true },
                  "its text reads as a negation (no known allergy, denies ...): whether it records an allergy cannot be told; code it (SNOMED CT 716186003 for none) or refute it",
                  "a substance named only by a code the guideline lists as unverified for a substance of the class") AS ?reason) }
  UNION { ?rec a gkg:MedicationExposure ; gkg:exposureEndAssumed ?assumed ; gkg:exposureStart ?start ; gkg:exposureSubstance ?s .
          FILTER(?assumed) ?c gkg:exposureClass ?cls . ?s gkg:memberOfClass/skos:broader* ?cls
          OPTIONAL { ?s rdfs:label ?sl FILTER(LANG(?sl) = "" || LANGMATCHES(LANG(?sl), "en")) }
          OPTIONAL { ?rec gkg:exposureStatus ?est } BIND(COALESCE(STR(?est), "") = "unknown" AS ?unsure)
          BIND(CONCAT(" (", COALESCE(CONCAT(STR(?sl), ", "), ""), "from ", SUBSTR(STR(?start), 1, 10),
               IF(?unsure, ", status unknown, no end recorded)", ", finished on a date not recorded)")) AS ?recordStatus)
          BIND(IF(?unsure, CONCAT("a course begun before the span, of status unknown and without an end: it may ",
                                  "have ended before the span; record when it ended, or that it goes on, to decide"),
                  CONCAT("a course begun before the span and recorded as finished, but not when: it may have ended ",
                         "before the span; record when it ended to decide")) AS ?reason) }
  OPTIONAL { ?rec gkg:identifier ?id } BIND(COALESCE(?id, STR(?rec)) AS ?record)
}
"""

# The exposures a true medication-exposure criterion rests on (rule 47), with product and dates: "already
# taking X: true" names the record, so a course read as lasting (no end recorded) is seen as such.
EXPOSURES = """
SELECT ?patient ?c ?record ?recordStatus WHERE {
  ?out gkg:truth gkg:True ; gkg:forPatient ?patient ; gkg:criterion ?c ; prov:wasDerivedFrom ?rec .
  ?rec a gkg:MedicationExposure ; gkg:exposureStart ?start .
  OPTIONAL { ?rec gkg:exposureEnd ?end }
  OPTIONAL { ?rec gkg:exposureEndAssumed ?assumed }
  OPTIONAL { ?rec gkg:exposureStatus ?est }
  OPTIONAL { ?rec gkg:exposureSubstance ?s . ?s rdfs:label ?sl FILTER(LANG(?sl) = "" || LANGMATCHES(LANG(?sl), "en")) }
  OPTIONAL { ?rec gkg:identifier ?id } BIND(COALESCE(?id, STR(?rec)) AS ?record)
  # an end recorded as a day (or month, or year) is stored as the first instant after it, without a time zone
  # (the loader's end_instant): shown as the last day it covers, "to 2025-12-10" for "end": "2025-12-10"
  BIND(IF(STRLEN(STR(?end)) = 19 && SUBSTR(STR(?end), 12, 8) = "00:00:00",
          SUBSTR(STR(?end - "P1D"^^<http://www.w3.org/2001/XMLSchema#dayTimeDuration>), 1, 10), SUBSTR(STR(?end), 1, 10)) AS ?lastDay)
  BIND(CONCAT(" (", COALESCE(CONCAT(STR(?sl), ", "), ""), "from ", SUBSTR(STR(?start), 1, 10),
       IF(COALESCE(?assumed, false), IF(COALESCE(STR(?est), "") = "unknown", ", status unknown, no end recorded",
                                        ", finished on a date not recorded"),
          IF(BOUND(?end), CONCAT(" to ", ?lastDay), ", no end recorded")), ")") AS ?recordStatus)
}
"""

# The condition records a decided diagnosis criterion rests on (rule 45: the present records of a true one, the
# records there that do not count for a false one, the past records of a true history), with their dates as
# recorded, so the explanation shows the date of each fact used: "atrial fibrillation: true (Condition/c1
# (active, from 2016-03-01))", "prior stroke: true (Condition/c2 (resolved, from 2019-01 to 2019-03))",
# "atrial fibrillation: false (Condition/c3 (resolved, from 2020-02-01 to 2021-05-01))".
CONDITIONS = """
SELECT ?patient ?c ?record ?recordStatus WHERE {
  ?out gkg:criterion ?c ; gkg:truth ?truth ; gkg:forPatient ?patient ; prov:wasDerivedFrom ?rec .
  FILTER(?truth IN (gkg:True, gkg:False))
  ?rec a gkg:Condition ; gkg:presentAsOf ?present .
  OPTIONAL { ?rec gkg:conditionVerificationStatus ?void FILTER(?void IN ("refuted", "entered-in-error")) }
  OPTIONAL { ?rec gkg:clinicalStatus ?recorded }
  BIND(COALESCE(?void, ?recorded, IF(?present = gkg:False, "over", "no clinical status")) AS ?status)
  OPTIONAL { ?rec gkg:onsetTime ?onset }
  OPTIONAL { ?rec gkg:onsetSpanEnd ?onsetEnd }
  OPTIONAL { ?rec gkg:abatementTime ?abated OPTIONAL { ?rec gkg:abatementSpanEnd ?abatedEnd } }
  OPTIONAL { ?rec gkg:recordedTime ?made OPTIONAL { ?rec gkg:recordedSpanEnd ?madeEnd } }
  OPTIONAL { ?rec gkg:identifier ?id } BIND(COALESCE(?id, STR(?rec)) AS ?record)
  # dates as recorded: a day, a month ("2022-03": its span's start and end share the month) or a year; an onset
  # period as its days ("begun between ... and ...", or "by ..." with an end only); without an onset, the day it
  # was recorded (by which it had begun)
  BIND(BOUND(?onset) && BOUND(?onsetEnd) && SUBSTR(STR(?onsetEnd), 12, 8) = "23:59:59"
       && (SUBSTR(STR(?onset), 1, 7) = SUBSTR(STR(?onsetEnd), 1, 7)
           || (SUBSTR(STR(?onset), 5, 6) = "-01-01" && SUBSTR(STR(?onsetEnd), 5, 6) = "-12-31"
               && SUBSTR(STR(?onset), 1, 4) = SUBSTR(STR(?onsetEnd), 1, 4))) AS ?dayless)
  BIND(IF(!BOUND(?onsetEnd), SUBSTR(STR(?onset), 1, 10),
          IF(?dayless, SUBSTR(STR(?onset), 1, IF(SUBSTR(STR(?onset), 1, 7) = SUBSTR(STR(?onsetEnd), 1, 7), 7, 4)),
             ?none)) AS ?from)
  BIND(IF(BOUND(?onsetEnd) && !?dayless,
          CONCAT(", begun ", IF(BOUND(?onset), CONCAT("between ", SUBSTR(STR(?onset), 1, 10), " and "), "by "),
                 SUBSTR(STR(?onsetEnd), 1, 10)), ?none) AS ?period)
  BIND(IF(BOUND(?onset) || BOUND(?onsetEnd), ?none, SUBSTR(STR(?made), 1, IF(!BOUND(?madeEnd), 10,
       IF(SUBSTR(STR(?made), 1, 7) = SUBSTR(STR(?madeEnd), 1, 7), 7, 4)))) AS ?recordedOn)
  BIND(SUBSTR(STR(?abated), 1, IF(!BOUND(?abatedEnd), 10,
       IF(SUBSTR(STR(?abated), 1, 7) = SUBSTR(STR(?abatedEnd), 1, 7), 7, 4))) AS ?to)
  BIND(CONCAT(" (", ?status, COALESCE(CONCAT(", from ", ?from), ""), COALESCE(?period, ""),
       COALESCE(CONCAT(IF(BOUND(?from), " to ", ", ended "), ?to), ""),
       COALESCE(CONCAT(", recorded ", ?recordedOn), ""),
       IF(BOUND(?onset) || BOUND(?onsetEnd) || BOUND(?made) || BOUND(?abated), "", ", no date recorded"), ")")
       AS ?recordStatus)
}
"""

# The records a true diagnosis criterion rests on through a code below one it lists (rule 17): "active cancer:
# true (Condition/c7 coded C50.911)", so a reader sees which code the category matched.
BELOW = """
SELECT ?patient ?c ?record ?recordStatus WHERE {
  # (in a group of its own with the filter: an engine may answer a grouping of no rows with one unbound row,
  # which the OPTIONAL below would then bind to any record)
  { { SELECT ?patient ?c ?rec (MIN(?token) AS ?first) WHERE {
        ?out gkg:criterion ?c ; gkg:truth gkg:True ; gkg:forPatient ?patient ; prov:wasDerivedFrom ?rec .
        ?rec a gkg:Condition ; gkg:matchedCode ?code ; gkg:codeToken ?token .
        ?c gkg:diagnosisCode ?code . ?code gkg:codePrefixToken ?prefix .
        FILTER NOT EXISTS { ?code gkg:codeToken ?exact . ?rec gkg:codeToken ?exact }
        FILTER(STRSTARTS(UCASE(REPLACE(?token, "[.]", "")), UCASE(REPLACE(?prefix, "[.]", ""))))  # as rule 17
      } GROUP BY ?patient ?c ?rec }
    FILTER(BOUND(?rec)) }
  OPTIONAL { ?rec gkg:identifier ?id } BIND(COALESCE(?id, STR(?rec)) AS ?record)
  BIND(CONCAT(" coded ", STRAFTER(?first, "|")) AS ?recordStatus)  # the system is the listed code's
}
"""

# The allergy records a true or false allergy criterion rests on (rule 27), with the substance matched (the first
# by label), what the record calls it, how critical, and why one that does not count does not: "allergy to
# penicillins: true (AllergyIntolerance/a1 (amoxicillin: 'Allergy to drug', criticality high))", "false
# (AllergyIntolerance/a2 (amoxicillin, refuted))".
ALLERGIES = """
SELECT ?patient ?c ?record ?recordStatus WHERE {
  ?out gkg:truth ?truth ; gkg:forPatient ?patient ; gkg:criterion ?c ; prov:wasDerivedFrom ?rec .
  FILTER(?truth IN (gkg:True, gkg:False))
  ?rec a gkg:AllergyRecord .
  # the substance of the criterion's class the record names (the first by label)
  OPTIONAL { { SELECT ?rec ?c (MIN(STR(?sl)) AS ?name) WHERE { ?rec a gkg:AllergyRecord ; gkg:allergen ?s .
             ?c gkg:allergenClass ?cls . ?s gkg:memberOfClass/skos:broader* ?cls ; rdfs:label ?sl
             FILTER(LANG(?sl) = "" || LANGMATCHES(LANG(?sl), "en")) } GROUP BY ?rec ?c }
             FILTER(BOUND(?name)) }
  OPTIONAL { ?rec gkg:allergenText ?text }
  OPTIONAL { ?rec gkg:criticality ?critical }
  OPTIONAL { ?rec gkg:conditionVerificationStatus ?void FILTER(?void IN ("refuted", "entered-in-error")) }
  OPTIONAL { ?rec gkg:clinicalStatus ?over FILTER(?over IN ("inactive", "resolved", "remission")) }
  OPTIONAL { ?c gkg:excludesIntolerance true . ?rec gkg:allergyType "intolerance" .
             BIND("an intolerance, which this criterion does not count" AS ?intolerance) }
  OPTIONAL { ?rec gkg:identifier ?id } BIND(COALESCE(?id, STR(?rec)) AS ?record)
  BIND(IF(BOUND(?name) && BOUND(?text) && LCASE(?text) != LCASE(?name), CONCAT(?name, ": '", ?text, "'"),
          COALESCE(?name, ?text, "substance not named")) AS ?what)
  BIND(IF(?truth = gkg:False, CONCAT(", ", COALESCE(?void, ?over, ?intolerance, "begun after the as-of date")),
          COALESCE(CONCAT(", criticality ", ?critical), "")) AS ?how)
  BIND(CONCAT(" (", ?what, ?how, ")") AS ?recordStatus)
}
"""

# every query above: each row names a patient, a criterion and a record (with its status, or a reason)
RECORD_QUERIES = (RECORDS, EXPOSURES, CONDITIONS, BELOW, ALLERGIES)
