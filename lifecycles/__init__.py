"""Each lifecycle's statechart (python-statemachine), commands and pure rules.

No I/O and no Temporal here: workflows drive these machines, activities apply the rules to
registry data, and the docs render the machines as Mermaid.
"""
