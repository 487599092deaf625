"""The candidate classifier on hand-made features: an extra-trees ensemble, trained with scikit-learn by the
recipe and evaluated here with numpy alone (the kiosk image has no scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class TreeEnsemble:
    """A forest of binary decision trees stored as flat arrays; ``predict_proba`` averages leaf distributions.

    Why not pickle/joblib: loading a pickle runs code, and the fleet ships model files to kiosks. The arrays
    (``feature``, ``threshold``, ``left``, ``right``, ``value`` per node, ``roots`` per tree) are loaded with
    ``allow_pickle=False``.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature = arrays["feature"].astype(np.int32)
        self.threshold = arrays["threshold"].astype(np.float32)
        self.left = arrays["left"].astype(np.int32)
        self.right = arrays["right"].astype(np.int32)
        self.value = arrays["value"].astype(np.float32)
        self.roots = arrays["roots"].astype(np.int32)

    @classmethod
    def load(cls, path: Path) -> TreeEnsemble:
        with np.load(path, allow_pickle=False) as data:
            return cls({name: data[name] for name in data.files})

    @classmethod
    def from_sklearn(cls, forest: object) -> TreeEnsemble:
        """Flatten a fitted scikit-learn forest (``estimators_``) into one node table."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}
        roots, offset = [], 0
        for estimator in forest.estimators_:  # type: ignore[attr-defined]
            tree = estimator.tree_
            roots.append(offset)
            is_leaf = tree.children_left < 0
            parts["feature"].append(np.where(is_leaf, -1, tree.feature))
            parts["threshold"].append(tree.threshold)
            parts["left"].append(np.where(is_leaf, -1, tree.children_left + offset))
            parts["right"].append(np.where(is_leaf, -1, tree.children_right + offset))
            value = tree.value[:, 0, :]
            parts["value"].append(value / np.maximum(value.sum(axis=1, keepdims=True), 1e-12))
            offset += tree.node_count
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        arrays["roots"] = np.array(roots)
        return cls(arrays)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            feature=self.feature.astype(np.int16),
            threshold=self.threshold,
            left=self.left,
            right=self.right,
            value=self.value.astype(np.float16),
            roots=self.roots,
        )

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per feature row: all trees walked at once, level by level."""
        features = np.asarray(features, dtype=np.float32)
        rows = np.arange(features.shape[0])
        nodes = np.repeat(self.roots[None, :], features.shape[0], axis=0)
        while True:
            feat = self.feature[nodes]
            active = feat >= 0
            if not active.any():
                break
            go_left = features[rows[:, None], np.maximum(feat, 0)] <= self.threshold[nodes]
            nodes = np.where(active, np.where(go_left, self.left[nodes], self.right[nodes]), nodes)
        return self.value[nodes].mean(axis=1)
