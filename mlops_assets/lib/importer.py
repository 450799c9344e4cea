"""Someone else's table onto the landing contract: columns renamed by a mapping, naive timestamps
placed in their time zone, values written as text for validation to type (a value that does not
fit the contract is quarantined with its reason at ingestion, never dropped here).

`mlops import` calls `import_tables`; it also checks the rows against the contract first, so it
can say what validation will refuse and why before anything is ingested.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from mlops_assets.lib.data.contract import (
    COLUMNS,
    LINEAGE_COLUMNS,
    REASONS,
    REQUIRED_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
)
from mlops_assets.lib.data.validation import validate_day
from mlops_assets.lib.featurize.feature_spec import category_input

READABLE = (".parquet", ".csv")


def parse_mapping(text: str) -> dict[str, str]:
    """`contract=source,...` -> {contract column: source column}; unknown contract names are errors."""
    mapping = {}
    for pair in (item.strip() for item in text.split(",") if item.strip()):
        contract, equals, source = pair.partition("=")
        contract, source = contract.strip(), source.strip()
        if not equals or not contract or not source:
            raise ValueError(f"--map takes contract=source pairs separated by commas, not {pair!r}")
        if contract not in COLUMNS:
            raise ValueError(f"--map names {contract!r}, which is not a contract column ({', '.join(COLUMNS)})")
        if contract in mapping:
            raise ValueError(f"--map names {contract!r} twice")
        mapping[contract] = source
    return mapping


def source_files(sources: list[Path]) -> list[Path]:
    """The Parquet and CSV files named, or found directly in the folders named, in name order."""
    found = []
    for source in sources:
        if source.is_dir():
            found += sorted(p for p in source.iterdir() if p.suffix.lower() in READABLE)
        elif source.is_file() and source.suffix.lower() in READABLE:
            found.append(source)
        else:
            raise ValueError(f"{source} is neither a Parquet or CSV file nor a folder of them")
    if not found:
        raise ValueError(f"no Parquet or CSV file in {', '.join(map(str, sources))}")
    return found


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return pd.read_parquet(path)


def _text(values: pd.Series) -> pd.Series:
    """Values as the landing's text: integers without a decimal point, missing as missing."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("Int64").astype("string")
    if pd.api.types.is_float_dtype(values) and values.dropna().mod(1).eq(0).all():
        return values.astype("Int64").astype("string")
    return values.astype("string")


def _timestamps(values: pd.Series, timezone: str) -> pd.Series:
    """ISO 8601 UTC text; naive values are read in `timezone`. What does not parse stays as it was,
    for validation to quarantine with its reason."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
        if parsed.dt.tz is None and parsed.isna().any() and values.notna().any():
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    text = parsed.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").astype("string")
    return text.where(parsed.notna(), _text(values))


def contract_frame(source: pd.DataFrame, mapping: dict[str, str], timezone: str = "UTC") -> pd.DataFrame:
    """The source's rows with contract columns: mapped ones renamed and written as text, a
    contract column the source has under its own name taken as is, `is_fraud` empty where absent.
    Optional columns the source lacks stay absent."""
    missing = sorted(set(mapping.values()) - set(source.columns))
    if missing:
        raise ValueError(f"the source has no column {', '.join(missing)} (it has {', '.join(source.columns)})")
    names = {column: mapping.get(column, column) for column in COLUMNS if mapping.get(column, column) in source}
    lacking = [column for column in REQUIRED_COLUMNS if column not in names and column != "is_fraud"]
    if lacking:
        raise ValueError(f"map the required columns {', '.join(lacking)} (--map {lacking[0]}=<source column>)")
    frame = pd.DataFrame(index=source.index)
    for column, name in names.items():
        frame[column] = _timestamps(source[name], timezone) if column == "event_timestamp" else _text(source[name])
    if "is_fraud" not in frame:
        frame["is_fraud"] = pd.Series(pd.NA, index=source.index, dtype="string")
    return frame.reset_index(drop=True)


@dataclass
class ImportResult:
    files: list[Path] = field(default_factory=list)  # landing files written
    rows_read: int = 0
    rows_landed: int = 0
    rows_outside: int = 0  # outside --start/--end: not landed, as asked
    refusals: Counter = field(default_factory=Counter)  # reason -> rows validation will quarantine
    first_day: str | None = None
    last_day: str | None = None
    columns: list[str] = field(default_factory=list)  # the contract columns landed
    categories: Counter = field(default_factory=Counter)  # merchant category (lower case) -> rows

    def common_categories(self, min_share: float = 0.005, most: int = 30) -> tuple[str, ...]:
        """The merchant categories of at least `min_share` of the landed rows, at most `most`, most
        frequent first: those that get a model input each (the rest are `is_category_unknown`).
        Left out: a value with a comma (the setting's separator), one without a letter or digit or
        named `unknown` (no input name), and one whose input name a more frequent one has."""
        least = min_share * sum(self.categories.values())
        common: dict[str, str] = {}  # input name -> category
        for name, count in self.categories.most_common():
            input_name = category_input(name)
            if (
                count >= least
                and "," not in name
                and input_name not in (*common, "is_category_", "is_category_unknown")
            ):
                common[input_name] = name
        return tuple(common.values())[:most]


def import_tables(
    sources: list[Path],
    mapping: dict[str, str],
    landing_dir: Path,
    *,
    timezone: str = "UTC",
    start: date | None = None,
    end: date | None = None,
) -> ImportResult:
    """Writes one landing file per source file (`<name>.imported.parquet`), rows of days in
    `start`..`end` only, and tells what validation will refuse and why."""
    result = ImportResult()
    landing_dir.mkdir(parents=True, exist_ok=True)
    for path in source_files(sources):
        frame = contract_frame(_read(path), mapping, timezone)
        result.rows_read += len(frame)
        day = pd.to_datetime(frame["event_timestamp"], errors="coerce", utc=True, format="ISO8601").dt.strftime(
            "%Y-%m-%d"
        )
        inside = pd.Series(True, index=frame.index)
        if start is not None:
            inside &= ~(day < start.isoformat()).fillna(False)
        if end is not None:
            inside &= ~(day > end.isoformat()).fillna(False)
        result.rows_outside += int((~inside).sum())
        frame, day = frame[inside].reset_index(drop=True), day[inside].reset_index(drop=True)
        if frame.empty:
            continue
        target = landing_dir / f"{path.stem}.imported.parquet"
        frame.to_parquet(target, index=False)
        result.files.append(target)
        result.rows_landed += len(frame)
        result.columns = sorted(set(result.columns) | set(frame.columns), key=list(COLUMNS).index)
        known = day.dropna()
        if len(known):
            result.first_day = min(filter(None, (result.first_day, known.min())))
            result.last_day = max(filter(None, (result.last_day, known.max())))
        result.refusals += _refusals(frame, day, target.name)
        if "merchant_category" in frame:
            result.categories += Counter(frame["merchant_category"].dropna().astype(str).str.strip().str.lower())
    return result


def _refusals(frame: pd.DataFrame, day: pd.Series, name: str) -> Counter:
    """What the contract's validation will quarantine, reason by reason (a row may have several)."""
    lineage = frame.assign(**{SOURCE_FILE: name, SOURCE_ROW: range(len(frame))})
    counts: Counter = Counter()
    fallback = day.dropna().min() if day.notna().any() else "1970-01-01"
    for key, rows in lineage.groupby(day.fillna(fallback)):
        quarantined = validate_day(rows[[*frame.columns, *LINEAGE_COLUMNS]], key).quarantined
        for reasons in quarantined[REASONS]:
            counts.update(reasons.split("; "))
    return counts
