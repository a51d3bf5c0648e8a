"""Image metrics, line profiles, the two-tube evaluation protocol, its tables and figures."""
