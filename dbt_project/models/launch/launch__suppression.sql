-- Suppression lists the launch must honour, one row per list: people of the audience with a completed erasure
-- request (they should not exist in any system any more) and with an erasure request still open (they must not be
-- contacted while it runs). Matching is on the email hash the erasure log keeps; the audience leaves only as tokens.
{{ config(materialized='table', schema='launch', enabled=var('launch', none) is not none) }}
with audience as (
    select * from {{ ref('launch__audience') }} where is_selected
),

lists as (
    select 'erasure_completed' as list_name, customer_token, is_erased as is_listed from audience
    union all
    select 'erasure_pending', customer_token, is_erasure_pending from audience
),

spine as (
    select * from (values ('erasure_completed'), ('erasure_pending')) as spine_ (list_name)
)

select
    spine.list_name,
    count(lists.customer_token) as audience_people,
    count(lists.customer_token) filter (where lists.is_listed) as people_listed,
    {{ example_ids("case when lists.is_listed then lists.customer_token end") }} as example_ids
from spine
left join lists on lists.list_name = spine.list_name
group by spine.list_name
