"""
What an operator sees of a running daemon, none of which any git-annex
server offers:

 - L{annexrelay.operator.metrics}: the request tracker every session
   reports to, and the Prometheus collectors over it and the core (its own
   registry, passed in, never the global one);
 - L{annexrelay.operator.status}: one snapshot of the daemon (targets,
   nodes, transfers in flight, last errors) for the status page and
   C{annexrelay status};
 - L{annexrelay.operator.web}: the C{--metrics} listener: C{/metrics},
   C{/healthz}, C{/readyz} and the live status page at C{/}.
"""
