"""FHIR R4 in: Bundles, NDJSON and bulk-export folders read and validated (`reader`), each patient's values
found by the schema's mapping (`values`), and the sample ward written as a Bundle (`sample`)."""
