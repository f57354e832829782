"""Publication: differentially private releases of the fusion tables (:mod:`.dp`), charged to
a signed privacy-budget ledger (:mod:`.ledger`)."""
