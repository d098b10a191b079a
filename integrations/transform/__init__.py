"""The transform job: the bundled dbt project run in process, and its lineage read from the models' SQL.

    dbt_build      runs ``dbt build``/``dbt run`` against the warehouse; failed data tests come back as findings
    lineage        which raw sources each model is built from (for the health and drift gates)
    drift_gate     a batch refused for breaking schema drift: its source and everything downstream left out of the
                   build, the checks over them marked not evaluated (the decision is ``contracts.drift``)
"""
