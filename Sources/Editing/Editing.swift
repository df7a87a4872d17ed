// Editing: changing facts (covariance statistics, ROME, MEMIT, AlphaEdit, verification, ledger).
