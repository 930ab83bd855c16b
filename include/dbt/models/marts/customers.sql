with order_stats as (
    select
        customer_id,
        min(order_date) as first_order,
        max(order_date) as most_recent_order,
        count(*) as number_of_orders,
        sum(amount) as customer_lifetime_value
    from {{ ref('orders') }}
    group by customer_id
)

select
    c.customer_id,
    c.first_name,
    c.last_name,
    s.first_order,
    s.most_recent_order,
    coalesce(s.number_of_orders, 0) as number_of_orders,
    coalesce(s.customer_lifetime_value, 0) as customer_lifetime_value
from {{ ref('stg_customers') }} as c
left join order_stats as s using (customer_id)
