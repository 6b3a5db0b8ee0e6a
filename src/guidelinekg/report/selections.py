"""The SPARQL selections the patient report reads from an evaluation's result graph.

Each is a SELECT over the knowledge and the derived results (``$version``: the guideline version, bound by
:func:`guidelinekg.report.graphread.rows`); :mod:`guidelinekg.report.patient` shapes their rows into the
documented JSON (``docs/recommend.schema.json``).
"""

from __future__ import annotations

RESULTS = """
SELECT ?patient ?res ?r ?status ?kind WHERE {
  ?res a gkg:RecommendationResult ; gkg:forPatient ?patient ; gkg:instantiates ?r ; gkg:status ?s ;
       gkg:guidelineVersion $version .
  ?s skos:notation ?status .
  ?r a ?kind . FILTER(?kind IN (gkg:Recommendation))
}"""

STATEMENT = """
SELECT ?r ?text ?summary ?label ?dir ?strength ?certainty ?line ?grading ?crit ?i ?ilabel ?route
       ?doseValue ?doseUnit ?doseNode ?freq ?basis ?kind WHERE {
  ?r gkg:sourceText ?text ; gkg:applicability ?crit ; gkg:intervention ?i .
  # a label the content lacks (validate reports it) is the IRI, never a statement left out of the report
  OPTIONAL { ?r rdfs:label ?rlabel } BIND(COALESCE(?rlabel, STR(?r)) AS ?label)
  OPTIONAL { ?i rdfs:label ?il } BIND(COALESCE(?il, STR(?i)) AS ?ilabel)
  OPTIONAL { ?r gkg:summary ?summary }
  OPTIONAL { ?r gkg:direction ?d . ?d skos:notation ?dir }
  OPTIONAL { ?r gkg:strength ?s . ?s skos:notation ?strength }
  OPTIONAL { ?r gkg:certainty ?c . ?c skos:notation ?certainty }
  OPTIONAL { ?r gkg:lineOfTherapy ?l . ?l skos:notation ?line }
  OPTIONAL { ?r gkg:gradingNotStated ?grading }
  OPTIONAL { ?i gkg:route ?ro . ?ro rdfs:label ?route }
  OPTIONAL { ?i gkg:dose ?doseNode . ?doseNode gkg:value ?doseValue ; gkg:unit ?doseUnit }  # node: its own status
  # (English or untagged: a frequency stated in two languages is one frequency)
  OPTIONAL { ?i gkg:frequency ?ifreq FILTER(LANG(?ifreq) = "" || LANGMATCHES(LANG(?ifreq), "en")) }
  OPTIONAL { ?i gkg:dose ?fdose . ?fdose gkg:frequency ?dfreq  # the dose's own frequency comes first
             FILTER(LANG(?dfreq) = "" || LANGMATCHES(LANG(?dfreq), "en")) }
  # else its schedule, as labelled ("at 12, 24 and 36 weeks"): when the doses are given, never left unsaid
  OPTIONAL { ?i gkg:schedule ?sch . ?sch rdfs:label ?schedule FILTER(LANG(?schedule) = "" || LANGMATCHES(LANG(?schedule), "en")) }
  BIND(STR(COALESCE(?dfreq, ?ifreq, ?schedule)) AS ?freq)
  OPTIONAL { ?i gkg:dose ?dose2 . ?dose2 gkg:doseBasis ?basis }
  OPTIONAL { ?i a/rdfs:subClassOf* ?ik .  # what an intervention that is not a medicine is (or a subclass of)
             VALUES (?ik ?kind) { (gkg:TestOrder "test") (gkg:Referral "referral") (gkg:DiagnosisRecord "diagnosis")
                                  (gkg:Advice "advice") (gkg:Procedure "procedure") } }
}"""

# Not-indicated statements (what the report says when one applies, rule 71) and cautions (travelling with
# the statement they are about, gkg:aboutStatement)
NOT_INDICATED = """
SELECT ?ni ?text ?label ?crit ?ilabel ?kind WHERE {
  ?ni a gkg:NotIndicatedStatement ; gkg:sourceText ?text ; gkg:applicability ?crit .
  OPTIONAL { ?ni rdfs:label ?l } BIND(COALESCE(?l, STR(?ni)) AS ?label)
  OPTIONAL { ?ni gkg:notIndicatedIntervention ?i . OPTIONAL { ?i rdfs:label ?il } BIND(COALESCE(?il, STR(?i)) AS ?ilabel)
             OPTIONAL { ?i a/rdfs:subClassOf* ?ik .  # what it is when not a medicine (as STATEMENT reads it)
                        VALUES (?ik ?kind) { (gkg:TestOrder "test") (gkg:Referral "referral") (gkg:DiagnosisRecord "diagnosis")
                                             (gkg:Advice "advice") (gkg:Procedure "procedure") } } }
}"""

CAUTIONS = """
SELECT ?about ?c ?text ?label WHERE {
  ?c a gkg:Caution ; gkg:aboutStatement ?about ; gkg:sourceText ?text .
  OPTIONAL { ?c rdfs:label ?l } BIND(COALESCE(?l, STR(?c)) AS ?label)
}"""

CODES = """
SELECT ?i ?system ?code ?status WHERE {
  ?i a/rdfs:subClassOf* gkg:Intervention .
  { { ?i gkg:substance ?s . ?s gkg:code ?c . } UNION { ?i gkg:code ?c . }  # a medicine's, or a referral's ...
    ?c gkg:codeSystem ?system ; skos:notation ?code ; gkg:verificationStatus ?vs . ?vs skos:notation ?status . }
  UNION { ?i gkg:ordersMeasure ?m . ?m gkg:loincCode ?code ; gkg:verificationStatus ?vs .  # a test order's test
          ?vs skos:notation ?status . BIND("http://loinc.org" AS ?system) }
}"""

# A statement's grades in its guideline's own grading system, each with its GRADE equivalent when the
# content maps the grade to one (skos:exactMatch / skos:closeMatch).
GRADES = """
SELECT ?r ?g ?notation ?glabel ?axis ?system ?systemLabel ?mapped ?match WHERE {
  ?r gkg:grade ?g . ?g skos:notation ?notation ; gkg:gradeAxis ?ax ; skos:inScheme ?system . ?ax skos:notation ?axis .
  # one label each: the smallest English or untagged one (a report never lists a grade twice)
  OPTIONAL { SELECT ?g (MIN(?l) AS ?glabel) WHERE { ?g skos:prefLabel|rdfs:label ?l .
             FILTER(LANG(?l) = "" || LANGMATCHES(LANG(?l), "en")) } GROUP BY ?g }
  OPTIONAL { SELECT ?system (MIN(?sl) AS ?systemLabel) WHERE { ?system rdfs:label ?sl .
             FILTER(LANG(?sl) = "" || LANGMATCHES(LANG(?sl), "en")) } GROUP BY ?system }
  OPTIONAL { { ?g skos:exactMatch ?m . BIND("exact" AS ?match) } UNION { ?g skos:closeMatch ?m . BIND("close" AS ?match) }
             ?m skos:notation ?mapped . FILTER(?m IN (gkg:Strong, gkg:Conditional, gkg:HighCertainty,
                                                     gkg:ModerateCertainty, gkg:LowCertainty, gkg:VeryLowCertainty)) }
}"""

# Each dosing statement's applicability for a patient (holds, fails, undecided): one that fails is not shown to
# it (a dose for another weight band); a fixed dose is the recommendation's only where its statement holds
DOSING_NOT_APPLYING = """SELECT ?patient ?d ?link WHERE { ?d a gkg:DosingStatement ; gkg:applicability ?c .
  ?patient ?link ?c . VALUES ?link { gkg:holds gkg:fails gkg:undecided } }"""

# The fixed doses dosing statements give (a gkg:Dose that is no weight-based dose, ?x), by intervention
FIXED_DOSING = """SELECT ?i ?d ?x ?value ?unit ?dlabel ?basis ?crit ?freq WHERE { ?d a gkg:DosingStatement ; gkg:dosingFor ?i ;
  gkg:dose ?x . ?x gkg:value ?value ; gkg:unit ?unit . FILTER NOT EXISTS { ?x a gkg:WeightBasedDose }
  OPTIONAL { ?x gkg:doseBasis ?basis }
  OPTIONAL { ?d gkg:applicability ?crit }  # why it applies (or may): explained under the dose
  OPTIONAL { ?x gkg:frequency ?freq  # 2.5 mg twice daily: a frequency that goes with the dose
             FILTER(LANG(?freq) = "" || LANGMATCHES(LANG(?freq), "en")) }
  OPTIONAL { ?d rdfs:label ?dlabel FILTER(LANG(?dlabel) = "" || LANGMATCHES(LANG(?dlabel), "en")) } }"""

ADMINISTRATION = """
SELECT ?i ?d ?text ?adm ?dlabel WHERE {
  ?d a gkg:DosingStatement ; gkg:dosingFor ?i ; gkg:sourceText ?text .
  OPTIONAL { ?d gkg:administration ?a . ?a gkg:instructionText ?adm }
  OPTIONAL { ?d rdfs:label ?dlabel FILTER(LANG(?dlabel) = "" || LANGMATCHES(LANG(?dlabel), "en")) }
}"""

CITATIONS = """
SELECT ?s ?kind ?n ?resolution ?work WHERE {
  { ?s gkg:citesReference ?ref . ?ref gkg:referenceNumber ?n ; gkg:resolutionStatus ?rs .
    ?rs rdfs:label ?resolution . BIND("reference" AS ?kind)
    OPTIONAL { ?ref gkg:resolvesTo ?work } }
  UNION { ?s gkg:citation ?work . BIND("citation" AS ?kind) }
  UNION { ?s gkg:verifiedAgainst ?work . BIND("verified-against" AS ?kind) }
}"""

WORKS = """
SELECT ?work ?title ?year ?doi ?pmid ?sourceKind WHERE {
  ?work a gkg:Citation .
  OPTIONAL { ?work gkg:title ?title } OPTIONAL { ?work gkg:year ?year }
  OPTIONAL { ?work bibo:doi ?doi } OPTIONAL { ?work bibo:pmid ?pmid }
  OPTIONAL { ?work gkg:sourceKind ?sk . ?sk skos:notation ?sourceKind }
}"""

DOSES = """
SELECT ?patient ?res ?d ?wbd ?value ?unit ?weight ?capped ?perKg ?perUnit ?max ?maxUnit ?dtext ?exact ?rounding
       ?roundingStatus ?r ?m ?maxStatus ?weightTime ?weightSpanEnd ?weightId ?basis ?freq ?keptUnder WHERE {
  ?res gkg:computedDose ?dose . ?res gkg:forPatient ?patient .  # the rare property first: 8x faster
  ?dose gkg:doseValue ?value ; gkg:doseUnit ?unit ; gkg:bodyWeight ?weight ; gkg:capped ?capped ;
        gkg:dosingStatement ?d .
  ?d gkg:dose ?wbd ; gkg:sourceText ?dtext . ?wbd gkg:perKg ?perKg ; gkg:unit ?perUnit .
  OPTIONAL { ?wbd gkg:maximumDose ?m . ?m gkg:value ?max ; gkg:unit ?maxUnit  # the cap's own status, shown with it
             OPTIONAL { ?m gkg:verificationStatus ?mvs . ?mvs rdfs:label ?maxStatus } }
  OPTIONAL { ?wbd gkg:doseBasis ?basis }  # what the amount is of (an element of a salt): never the product's
  OPTIONAL { ?wbd gkg:frequency ?freq FILTER(LANG(?freq) = "" || LANGMATCHES(LANG(?freq), "en")) }  # goes with it
  OPTIONAL { ?dose gkg:exactDose ?exact }
  OPTIONAL { ?dose gkg:keptUnderMaximum ?keptUnder }
  OPTIONAL { ?dose gkg:roundedBy ?r . ?r rdfs:label ?rounding
             OPTIONAL { ?r gkg:verificationStatus ?vs . ?vs rdfs:label ?roundingStatus } }
  OPTIONAL { ?dose prov:wasDerivedFrom ?wo . ?wo a gkg:Observation ; gkg:effectiveTime ?weightTime .
             OPTIONAL { ?wo gkg:identifier ?weightId }  # the body weight the dose was computed from
             OPTIONAL { ?wo gkg:effectiveSpanEnd ?weightSpanEnd } }  # weighed in a month: shown as recorded
}"""

# A weight-based dose not computed because the patient's latest weight is too old for it (rule 32).
STALE_WEIGHTS = """
SELECT ?patient ?i ?value ?unit ?time ?spanEnd ?max WHERE {
  ?latest gkg:tooOldFor ?wbd ; gkg:forPatient ?patient ; gkg:observation ?o ; gkg:observedValue ?value .
  ?d gkg:dose ?wbd ; gkg:dosingFor ?i . ?wbd gkg:weightMeasure ?m ; gkg:appliedAgeLimit ?limit .
  ?limit gkg:maximumAgeDays ?max .
  ?m gkg:canonicalUnit ?unit . ?o gkg:effectiveTime ?time . OPTIONAL { ?o gkg:effectiveSpanEnd ?spanEnd }
}"""

WEIGHT_BASED = """SELECT ?i ?d ?dlabel ?crit ?wm WHERE { ?d gkg:dosingFor ?i ; gkg:dose ?w . ?w a gkg:WeightBasedDose .
  OPTIONAL { ?w gkg:weightMeasure ?wm }
  OPTIONAL { ?d gkg:applicability ?crit }
  OPTIONAL { ?d rdfs:label ?dlabel FILTER(LANG(?dlabel) = "" || LANGMATCHES(LANG(?dlabel), "en")) } }"""

SUPPRESSION = """
SELECT ?patient ?res ?by ?reason ?byLabel WHERE {
  ?res gkg:suppressedBy ?by . ?res gkg:forPatient ?patient .  # the rare property first: 10x faster
  OPTIONAL { ?by gkg:reason ?reason } OPTIONAL { ?by gkg:sourceText ?reason }
  OPTIONAL { ?by rdfs:label ?byLabel }
}"""

# Why an undetermined recommendation is undetermined besides its own criterion: an undecided precedence
# or restriction (rules 62, 65) that would prevail over it or set it aside (?byKind says which).
UNDETERMINED_BY = """
SELECT ?patient ?res ?c ?by ?byLabel ?byKind WHERE {
  ?res gkg:undeterminedBecause ?o ; gkg:forPatient ?patient ; gkg:instantiates ?r .
  ?o gkg:criterion ?c .
  OPTIONAL {
    { ?by gkg:precedenceWhen ?c ; gkg:prevailsOver ?r BIND("precedence" AS ?byKind) }
    UNION { ?by gkg:applicability ?c ; gkg:restrictsRecommendation ?r BIND("restriction" AS ?byKind) }
    UNION { ?by gkg:precedenceWhen ?c ; gkg:prevailsOver ?ni . ?ni gkg:restrictsRecommendation ?r
            BIND("precedence" AS ?byKind) }  # over its restriction
    OPTIONAL { ?by rdfs:label ?byLabel }
  }
}"""

# A measure's gkg:verificationStatus is that of its LOINC code (as CODES reads a test order's): what the FHIR
# rendering needs to show the code or withhold it (never shown unless verified).
ORDERS = """
SELECT ?patient ?order ?m ?loinc ?label ?status ?req ?instruction ?for WHERE {
  ?order a gkg:Order ; gkg:forPatient ?patient ; gkg:measure ?m ; gkg:orderedFor ?res .
  ?res gkg:instantiates ?for .
  ?m gkg:loincCode ?loinc ; rdfs:label ?label .
  OPTIONAL { ?m gkg:verificationStatus ?vs . ?vs skos:notation ?status }
  OPTIONAL { ?req gkg:appliesToMeasure ?m ; gkg:instruction ?instruction .
             ?st gkg:requirement ?req ; gkg:inVersion $version . }
}"""

MONITORING = """
SELECT ?patient ?a ?text ?label ?m ?loinc ?mlabel ?status ?min ?max ?unit ?maxUnit ?trigger ?count ?crit WHERE {
  ?item a gkg:MonitoringItem ; gkg:forPatient ?patient ; gkg:instantiates ?a ; gkg:guidelineVersion $version .
  ?a gkg:sourceText ?text ; gkg:monitors ?m . ?m gkg:loincCode ?loinc .
  # what tells one action from another that quotes the same sentence: its label (the IRI when the content
  # gives none: never an action left out of the plan), interval and trigger
  OPTIONAL { ?a rdfs:label ?l FILTER(LANG(?l) = "" || LANGMATCHES(LANG(?l), "en")) } BIND(COALESCE(?l, STR(?a)) AS ?label)
  OPTIONAL { ?m rdfs:label ?mlabel }
  OPTIONAL { ?m gkg:verificationStatus ?vs . ?vs skos:notation ?status }  # its code's, as ORDERS reads it
  OPTIONAL { ?a gkg:intervalMin ?qmin . ?qmin gkg:value ?min ; gkg:unit ?unit }
  OPTIONAL { ?a gkg:intervalMax ?qmax . ?qmax gkg:value ?max OPTIONAL { ?qmax gkg:unit ?maxUnit } }
  OPTIONAL { ?a gkg:monitoringTrigger ?trigger }
  OPTIONAL { ?a gkg:checkCount ?count }  # how many checks (none: they recur)
  OPTIONAL { ?a gkg:applicability ?crit FILTER NOT EXISTS { ?crit a gkg:Always } }  # why it applies: explained
}"""

WARNINGS = """
SELECT ?patient ?w ?code ?message ?input WHERE {
  ?w a gkg:Warning ; gkg:forPatient ?patient ; gkg:warningCode ?code ; gkg:message ?message .
  OPTIONAL { ?w a gkg:IngestNote . BIND(true AS ?input) }  # what the loader noticed in the input
}"""

# the statements a warning is about (gkg:orderedFor: an allergy to a recommended drug, a conflict, ...): FHIR
# output links its DetectedIssue with their requests (read only for --format fhir)
WARNING_ABOUT = """
SELECT ?patient ?code ?message ?about WHERE {
  ?w a gkg:Warning ; gkg:forPatient ?patient ; gkg:warningCode ?code ; gkg:message ?message ; gkg:orderedFor ?res .
  ?res gkg:instantiates ?about .
}"""

# ?undecided: the statement is not decided yet (rule 71's gkg:Undetermined status); ?open: the criterion that
# leaves it so (one row each)
RESTRICTIONS = """
SELECT ?patient ?res ?ni ?undecided ?open WHERE {
  ?res a gkg:RestrictionResult ; gkg:forPatient ?patient ; gkg:instantiates ?ni ; gkg:guidelineVersion $version .
  OPTIONAL { ?res gkg:status gkg:Undetermined BIND(true AS ?undecided) }
  OPTIONAL { ?res gkg:undeterminedBecause ?why . ?why gkg:criterion ?open }
}"""

POPULATION_NOT_MET = """
SELECT ?patient ?res ?r (MIN(STR(?p0)) AS ?prec) (MIN(?reason0) AS ?reason) (MIN(?label0) AS ?popLabel) WHERE {
  ?res a gkg:PopulationNotMetResult ; gkg:forPatient ?patient ; gkg:instantiates ?r ; gkg:precedence ?p0 ;
       gkg:guidelineVersion $version .
  OPTIONAL { ?p0 gkg:reason ?reason0 }
  OPTIONAL { ?p0 gkg:precedenceWhen ?q . ?q rdfs:label ?label0 }  # the population, e.g. a diagnosis
} GROUP BY ?patient ?res ?r"""  # one row per result, however many precedences or labels

# Insufficient-evidence statements that apply (rule 73), one row per intervention: the guideline makes no
# recommendation for or against it for the patient; ?open: the criterion that leaves it undecided, if one does
INSUFFICIENT_EVIDENCE = """
SELECT ?patient ?res ?s ?text ?label ?summary ?certainty ?crit ?i ?ilabel ?kind ?open WHERE {
  ?res a gkg:InsufficientEvidenceResult ; gkg:forPatient ?patient ; gkg:instantiates ?s ; gkg:guidelineVersion $version .
  OPTIONAL { ?res gkg:undeterminedBecause ?why . ?why gkg:criterion ?open }  # one row each: grouped by statement
  ?s gkg:sourceText ?text ; gkg:applicability ?crit .
  OPTIONAL { ?s rdfs:label ?l } BIND(COALESCE(?l, STR(?s)) AS ?label)
  OPTIONAL { ?s gkg:summary ?summary }
  OPTIONAL { ?s gkg:certainty ?c . ?c skos:notation ?certainty }
  OPTIONAL { ?s gkg:intervention ?i . OPTIONAL { ?i rdfs:label ?il } BIND(COALESCE(?il, STR(?i)) AS ?ilabel)
             OPTIONAL { ?i a/rdfs:subClassOf* ?ik .  # what it is when not a medicine (as STATEMENT reads it)
                        VALUES (?ik ?kind) { (gkg:TestOrder "test") (gkg:Referral "referral") (gkg:DiagnosisRecord "diagnosis")
                                             (gkg:Advice "advice") (gkg:Procedure "procedure") } } }
}"""

# Every measure's LOINC code with its verification status and label (what an undecided criterion lacks is
# named by measure: the FHIR rendering's dataRequirement), and the criterion each version covers.
MEASURE_CODES = """
SELECT ?m ?loinc ?label ?status WHERE {
  ?m gkg:loincCode ?loinc .
  OPTIONAL { ?m rdfs:label ?label }
  OPTIONAL { ?m gkg:verificationStatus ?vs . ?vs skos:notation ?status }
}"""

# The codes a diagnosis or procedure criterion accepts (rule 07), and those of the substances a medication
# exposure criterion's class holds, each with its verification status: what the FHIR rendering's
# dataRequirement names when such a criterion is undecided (verified codes only).
RECORD_CODES = """
SELECT ?c ?system ?code ?status WHERE {
  { ?c gkg:diagnosisCode ?k } UNION { ?c gkg:procedureCode ?k }
  UNION { ?c gkg:exposureClass|gkg:allergenClass ?cls . ?s gkg:memberOfClass/skos:broader* ?cls ; gkg:code ?k }
  ?k gkg:codeSystem ?system ; skos:notation ?code .
  OPTIONAL { ?k gkg:verificationStatus ?vs . ?vs skos:notation ?status }
}"""

COVERAGE = """SELECT ?v ?c WHERE { ?v a gkg:GuidelineVersion ; gkg:coversCondition ?c }"""

APPLICABILITY = """
SELECT ?patient ?truth WHERE { ?a a gkg:Applicability ; gkg:forPatient ?patient ; gkg:guidelineVersion $version ;
  gkg:truth ?t . ?t skos:notation ?truth }"""

# Wording for patients (gkg:patientText, one per language tag) of anything a report shows, and the version's
# note on who wrote it: read once per knowledge base, chosen by language when a report for patients is made.
PATIENT_TEXTS = """
SELECT ?s ?text ?lang WHERE { ?s gkg:patientText ?text . BIND(LCASE(LANG(?text)) AS ?lang) FILTER(?lang != "") }"""

PATIENT_WORDING_NOTES = """
SELECT ?s ?text ?lang WHERE { ?s gkg:patientWordingNote ?text . BIND(LCASE(LANG(?text)) AS ?lang) FILTER(?lang != "") }"""
