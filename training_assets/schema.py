"""Names shared by every stage: the label file's columns, the features, the target, dtypes."""

EVENT_TIMESTAMP = "event_timestamp"
ENTITY_KEY = "driver_id"
TARGET = "trip_completed"
LABEL_COLUMNS = (EVENT_TIMESTAMP, ENTITY_KEY, TARGET)
# The values the target takes: the order was completed (1) or not (0).
LABEL_CLASSES = (0, 1)

FEATURE_VIEW = "driver_stats"
FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")
FEATURE_REFS = tuple(f"{FEATURE_VIEW}:{name}" for name in FEATURES)
# The Feast feature service (feature_repo/driver_features.py) the training frame is built
# from; it must select exactly FEATURES from FEATURE_VIEW.
FEATURE_SERVICE = "driver_training"
# Value ranges of the features: (min, max), None for no bound. Integral features (declared
# Int* in Feast) must also hold whole numbers.
FEATURE_RANGES: dict[str, tuple[float | None, float | None]] = {
    "conv_rate": (0.0, 1.0),
    "acc_rate": (0.0, 1.0),
    "avg_daily_trips": (0.0, None),
}

# When the feature row each label row got was observed: carried by the join, so the leakage
# check can verify every row without repeating the join.
FEATURE_TIMESTAMP = "feature_timestamp"

# Column order of the training frame: label columns, the features, the feature timestamp.
TRAINING_FRAME_COLUMNS = (*LABEL_COLUMNS, *FEATURES, FEATURE_TIMESTAMP)
# Rows are sorted by these so every downstream result is reproducible.
TRAINING_FRAME_SORT_KEYS = (EVENT_TIMESTAMP, ENTITY_KEY, TARGET)

# The columns train_set and test_set hold: every column of the frame, so each split row keeps
# its identity (event_timestamp, driver_id, trip_completed) and a later run can tell which
# rows a model was trained on (the champion check's fair comparison set).
SPLIT_COLUMNS = TRAINING_FRAME_COLUMNS

# pandas dtypes of Feast's value types (features) and entity value types (join keys).
FEAST_TO_PANDAS_DTYPE = {
    "Float32": "float32",
    "Float64": "float64",
    "Int32": "int32",
    "Int64": "int64",
}
ENTITY_TO_PANDAS_DTYPE = {"INT64": "int64", "INT32": "int32", "STRING": "object"}

# The leakage check's recomputed features: `<feature>__as_of` for each feature.
AS_OF_SUFFIX = "__as_of"
