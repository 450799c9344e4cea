"""The entities features are keyed by: the card holder and the merchant (or terminal)."""

from feast import Entity, ValueType

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64, description="A card holder.")
merchant = Entity(
    name="merchant", join_keys=["merchant_id"], value_type=ValueType.INT64, description="A merchant or terminal."
)
