"""The forecasting job around one series: transforms, baselines, the `Forecaster`, the report."""

from unrolled.forecasting.baselines import errors, naive, seasonal_naive
from unrolled.forecasting.forecaster import Forecaster, ForecastSettings
from unrolled.forecasting.table import DataError, Table, read_table
from unrolled.forecasting.transforms import SeriesTransform

__all__ = [
    "DataError",
    "ForecastSettings",
    "Forecaster",
    "SeriesTransform",
    "Table",
    "errors",
    "naive",
    "read_table",
    "seasonal_naive",
]
