"""The ``pcb`` profile: locate and type defects on a bare PCB from a defect-free template and a test image.

Why this design rather than an object detector: the template tells us exactly what the board should look like,
so after aligning the two images almost every defect is a blob in their difference. What is left to learn is
small: which difference blobs are real defects (not alignment or scan noise) and of which kind. That is a
tree ensemble on a few dozen hand-made features plus a tiny CNN on a 32x32 crop of each candidate, which run in
milliseconds on one core and fit in about 1 MB, instead of a CNN detector that would need a GPU to train and far
more than 100 ms per pair.

Pipeline (``detector.PcbDetector.detect``), one module per step:

1. ``masks``: binarise both images (Otsu; the DeepPCB scans are already 0/255) so that copper (dark) is 1.
2. ``alignment.align``: bring the template onto the test image. DeepPCB pairs are pre-aligned, which we detect
   by a small XOR share and then keep the identity; a technician's photo is shifted and rotated, so ORB features
   with a RANSAC homography, refined by ECC, bring the template into the test image's pixels. When both fail
   we fall back to the identity and say so (``alignment`` in the result) instead of failing the pair.
3. ``alignment.local_shift``: each 64 px tile of the aligned template may move by up to 2 px where that clearly
   reduces its XOR with the test. Some DeepPCB pairs, and photos, are not rigidly aligned, and a global
   transform alone left stripes of edge difference that swallowed the defects next to them (on random folds of
   the train pairs this step alone took the F-score from 0.946 to 0.961).
4. ``candidates.difference``: copper the test has and the template lacks ("extra": short, spur, copper) and the
   reverse ("missing": open, mousebite, pin-hole). A 3x3 opening removes the 1-2 px slivers along every edge
   that resampling and scanning leave; real defects are wider.
5. ``candidates.find_candidates``: the cleaned difference is dilated so that the fragments of one defect merge,
   and each connected component becomes a candidate box, centred on the blob and at least as large as a typical
   DeepPCB annotation (they frame the defect with a margin).
6. Classifiers (``extraction`` gathers their inputs, ``detector`` combines their outputs): ``features`` are
   computed from the template and test crops around each candidate (how much copper is extra or missing, the
   blob's size and shape, how the number of copper pieces and holes changes, whether the extra copper touches
   existing tracks, and, on the raw difference next to the blob, whether it cuts a track or bridges a gap,
   counted in the crop and on the whole board) and go into an extra-trees ensemble (``trees``) with a seventh
   class, ``none``, that drops false candidates. The ensemble is stored as plain arrays in an ``.npz`` file
   (no pickle), and evaluated with numpy. A small CNN (``crops``: int8 ONNX on OpenVINO, one thread) types the
   same candidates from their template / test / difference crops, and the two probability vectors are
   averaged: the network sees the drawn shape of a defect (a thin stroke across a track for an open, a ragged
   bite for a mousebite), which the hand-made numbers missed.

``scoring`` holds the DeepPCB evaluation (IoU matching, precision / recall / F-score) shared by the training
recipe, the bench and the tests; ``labels`` the class names, and ``errors`` the one exception every step raises.
"""
