-- Automated decisions that policy says need a human review (low confidence on a high-value account), per model.
with decisions as (
    select
        decisions.*,
        accounts.annual_revenue,
        coalesce(decisions.confidence < {{ var('oversight_min_confidence') }}
                 and accounts.annual_revenue >= {{ var('oversight_high_value_revenue') }}, false) as needs_review
    from {{ ref('int_decisions__all') }} as decisions
    left join {{ ref('stg_salesforce__accounts') }} as accounts on accounts.account_id = decisions.account_id
)

select
    model_name,
    coalesce(model_version, 'unversioned') as model_version,
    count(*) as decisions,
    count(*) filter (where is_executed) as executed,
    count(*) filter (where needs_review) as requiring_review,
    count(*) filter (where needs_review and is_executed and not is_human_reviewed) as unreviewed_requiring_review,
    cast(count(*) filter (where needs_review and is_human_reviewed) as {{ float_type() }})
        / nullif(count(*) filter (where needs_review), 0) as reviewed_share_requiring_review,
    {{ example_ids("case when needs_review and is_executed and not is_human_reviewed then decision_id end") }}
        as example_decisions
from decisions
group by model_name, coalesce(model_version, 'unversioned')
