-- Reviewer coverage per model version and review rule (int_decisions__review_rules): of the decisions a rule says a
-- human must review, how many were reviewed, and how many were executed without one. Models with no decision any
-- rule covers have no row.
select
    model_name,
    model_version,
    review_rule,
    count(*) as requiring_review,
    count(*) filter (where is_human_reviewed) as reviewed,
    count(*) filter (where not is_human_reviewed and is_executed) as unreviewed_executed,
    cast(count(*) filter (where is_human_reviewed) as {{ float_type() }}) / count(*) as coverage,
    count(distinct sensitive_segment) as segments_matched,
    {{ example_ids("case when is_executed and not is_human_reviewed then decision_id end") }} as example_decisions
from {{ ref('int_decisions__review_rules') }}
where review_rule is not null
group by model_name, model_version, review_rule
