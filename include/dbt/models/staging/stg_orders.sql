-- the seed loads the source table locally: build it first
-- depends_on: {{ ref('raw_orders') }}
select
    id as order_id,
    user_id as customer_id,
    cast(order_date as date) as order_date,
    status
from {{ source('raw', 'orders') }}
