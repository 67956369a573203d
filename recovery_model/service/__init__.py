"""`recovery serve`: the risk in the EHR through CDS Hooks 2.0, and a plain JSON API, with the model loaded once.

FastAPI and uvicorn carry the HTTP; what is ours is the protocol's meaning: discovery generated from the schema,
the prefetch read by the same FHIR reader as `recovery predict`, cards, feedback, and the EHR's authentication.
"""
