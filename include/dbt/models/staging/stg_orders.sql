-- Locally the seed raw_orders is what the loader's table raw.orders is in production: the model
-- reads the seed (so it builds after it) and names the source for lineage and the freshness check.
-- depends_on: {{ source('raw', 'orders') }}
select
    id as order_id,
    user_id as customer_id,
    cast(order_date as date) as order_date,
    status
from {{ ref('raw_orders') }}
