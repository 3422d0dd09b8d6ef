"""The parameter and attribute text that both fusion nets' docstrings share.

Filled into ``FusionNetClassifier`` and ``FusionNetRegressor`` by :func:`skmm._docs.fill_doc`;
the lists of fusion operators and branches are written from their registries.
"""

import textwrap

from ._branches import BRANCHES
from ._operators import FUSIONS


def _listed(registry):
    """The entries of ``registry``, one wrapped bullet each, indented as a description."""
    return "\n".join(textwrap.fill(line, 92, initial_indent=" " * 8, subsequent_indent=" " * 10,
                                   break_on_hyphens=False)
                     for line in registry.describe().splitlines())


#: Parameter and attribute text that both nets' docstrings share (see :mod:`skmm._docs`).
NET_DOCS = {
    "parameters": f"""
    Parameters
    ----------
    module : torch.nn.Module class or instance, optional
        The network; by default an MLP over the whole input row, or a multimodal module
        when X has modality blocks, whose input width is learnt at fit. A class receives
        ``module__...`` parameters, and ``n_features`` and ``n_outputs`` when it takes
        them. It returns the class logits of a classifier, the targets of a regressor.
    hidden_sizes : "auto" or tuple of int, default="auto"
        Units of the hidden layers of the default module: of the :class:`~skmm.nets.MLP`
        over a plain row, or of the head over the fused vector of a multimodal module.
        "auto" is (256,) for the MLP and () for the head: a linear read-out of the fused
        vector, where each modality's evidence adds up. A hidden layer there lets the
        modality that fits the training rows first (e.g. audio on the speakers it has
        heard) drive the training loss to zero alone, and the others are never used; on
        AV-Digits under speaker-held-out folds it cost 25 to 30 points (see the README's
        "When one modality misleads").
    dropout : float in [0, 1), default=0.1
        Dropout after each hidden layer of the default module and in its branches.
    fusion : str, torch.nn.Module class or instance, default="concat"
        How the branch outputs of the modality blocks are fused. A registered name
        (:data:`~skmm.nets.FUSIONS`):

{_listed(FUSIONS)}

        or an operator class (see :func:`~skmm.nets.register_fusion`), or an instance
        (used as it is). The operator's hyperparameters are set as ``fusion__<name>``
        (``fusion__rank=8``), and tuned by ``GridSearchCV`` alike. Every built-in
        operator ignores missing modalities (their presence columns are 0). With a plain
        X of one block and "concat", the module is an MLP over the row; from 1,500 rows
        of at most 32 columns, a table of numbers: a tabular branch, each number
        embedded, under a linear head (see ``n_fit_rows_``).
    modalities : dict or None, default=None
        Explicit blocks ``{{name: slice, positions, boolean mask or column names}}``; None
        finds them from the column-name prefixes of a DataFrame (a plain array is one block).
    branches : str, torch.nn.Module class or instance, dict or None, default=None
        Branch per block, ``{{"image": "cnn", "audio": "lstm", ...}}``, or one for all. A
        registered name (:data:`~skmm.nets.BRANCHES`, with the block kinds it takes):

{_listed(BRANCHES)}

        or a branch class (see :func:`~skmm.nets.register_branch`), or an instance (used
        as it is). None gives each block the default of its kind: ImagePixels blocks are
        pixels, AudioLogMel(output="frames") blocks frames, TextTokenIds blocks tokens,
        TabularEncoder blocks with category codes (``code:<column>``) tabular.
        Branch hyperparameters are set as ``branches__<name>`` (to every branch that
        takes it).
    shapes : dict or None, default=None
        Layout of blocks whose column names do not give it: (channels, height, width) for
        images, (n_channels, n_steps) for frames.
    branch_width : int, default=128
        Common output width of the branches.
    fusion_rank : int, default=4
        Rank of the "lowrank" operator: an alias of ``fusion__rank``, kept for
        compatibility (setting both to different values is an error).
    modality_dropout : float in [0, 1), default=0.0
        In training, drop each present modality of a sample with this probability (as if
        missing), never all of them.
    aux_weight : float, default=0.0
        Weight of the auxiliary losses of one linear head per branch (0: no such heads).
    balance : {"auto", None, "ume", "gblend", "ogm-ge"} or a registered name, default="auto"
        Balanced multimodal training, for when one modality fits the training rows first
        and misleads on new data (see :mod:`skmm.nets._balance` and the README's "When one
        modality misleads"). "auto" is "ume" when ``fit`` gets ``groups`` and X has
        several blocks (and the default module), else None: the groups say that new data
        brings new groups, which the unimodal ensemble's held-out weights are fitted for
        (on AV-Digits with speaker folds it scores 0.9515 against 0.9345 unbalanced, clean,
        and 0.8132 against 0.7732, hard; ``benchmarks/results/balance.md``), at about twice
        the fit time. None trains the fused head alone. Each branch gets a linear head of
        its own, and:

        * "ume": the branches learn through their own heads only; predictions combine the
          heads with weights fitted on held-out rows (whole groups when ``fit`` gets
          ``groups``). Costs one more training, on 75 % of the rows.
        * "gblend": Gradient-Blending, the fused and unimodal heads' losses weighted by
          their generalisation gain over overfitting on held-out rows, estimated in a
          probe run of ``balance__probe_epochs`` (8) epochs. Predicts with the fused head.
        * "ogm-ge": OGM-GE, the dominant modality's branch gradient scaled down per batch,
          with Gaussian noise; needs ``fusion="concat"`` and the linear head. Nearly free,
          classifier only.

        Their hyperparameters are routed as ``balance__<name>`` (``balance__holdout``,
        ``balance__alpha``...).
    """,
    "training_parameters": """
    optimizer : torch optimizer class, default=torch.optim.AdamW
    lr : float, default=2e-3
    max_epochs : int, default=20
    batch_size : "auto" or int, default="auto"
        Rows per batch (-1: the whole data); batches are index slices of whole tensors.
        "auto": 128, or 512 from 10,000 training rows (see ``batch_size_``).
    train_split : None or callable, default=None
        skorch's internal validation split. None keeps all rows for training.
    early_stopping : "auto", None or int, default="auto"
        Patience in epochs: holds out 10% of the rows (stratified for a classifier) and
        stops when the validation loss has not improved for that many epochs, keeping the
        best weights. "auto": None (every row trained on, for all ``max_epochs``) below
        10,000 training rows, 5 from there, where a held-out tenth is a reliable judge
        (see ``early_stopping_`` and ``benchmarks/results/real_ablation.md``).
    lr_schedule : "cosine" or None, default="cosine"
        "cosine": the learning rate falls from ``lr`` to 0 along a half cosine over
        ``max_epochs`` (skorch's ``LRScheduler`` with ``CosineAnnealingLR``, stepped per
        epoch; a ``partial_fit`` goes on along the same cosine). None: a constant ``lr``.
    callbacks : list of skorch callbacks, optional
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"}, default="auto"
        "auto" picks CUDA, then MPS, then the CPU at fit (see ``device_``).
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        "auto" trains with bfloat16 autocast on CUDA devices that support it, float32 elsewhere.
    random_state : int, RandomState or None, default=None
        Seeds module initialisation, dropout and batch order (CPU fits are reproducible).
    verbose : int, default=0
    **kwargs
        Any other skorch parameter: ``module__...``, ``optimizer__...``,
        ``iterator_train__shuffle``, ``warm_start``, ``compile``..., and the routed
        ``fusion__...`` and ``branches__...`` hyperparameters.
    """,
    "attributes": """
    module_ : torch.nn.Module
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of X at fit, when X was a DataFrame.
    n_outputs_ : int
    device_ : str
        The device training ran on (the CPU after loading a CUDA-trained net without CUDA).
    amp_dtype_ : torch.dtype or None
        The autocast dtype used, None for float32.
    seed_ : int
        The seed drawn from ``random_state`` at fit.
    batch_size_ : int
        The batch size this fit used: ``batch_size``, with "auto" resolved.
    early_stopping_ : int or None
        The patience this fit used: ``early_stopping``, with "auto" resolved.
    n_fit_rows_ : int
        Rows of the fit (before a held-out split). Below 1,500, "auto" embeds no numbers
        (``branches__numeric_embedding``); from 1,500, a plain X of at most 32 columns is
        read as a table of numbers (a tabular branch under a linear head, each number
        embedded), not by the MLP over the row (see :func:`skmm.nets._build.reads_as_table`).
    history_ : skorch History
    layout_ : tuple of Block
        The modality blocks found in X (name, columns, kind, shape, presence column), when
        the default module is a MultimodalModule.
    balance_weights_ : ndarray or None
        With ``balance="ume"``, the weight of each branch's head in the prediction; with
        "gblend", the loss weights of the fused head and of each branch's head.
    balance_in_use_ : str, BalanceScheme or None
        The scheme this fit used: ``balance``, with "auto" resolved.
    """,
    "fit_parameters": """
    X : array-like, DataFrame of numbers or sparse matrix, shape (n_samples, n_features)
        Cast to float32 once (a sparse matrix stays sparse: a CSR whose rows are batched
        as they are, see ARCHITECTURE.md section 4). Non-numeric columns and inf are
        refused, and NaN too, except where the multimodal module reads it as missing:
        in the rows of a block its presence column marks as missing, and, when X has
        several blocks, in the cells of a block of numbers or of a table (where NaN reads
        as the column's training mean, and a block that is NaN throughout as a missing
        modality).
    y : array-like, shape (n_samples,)
        Class labels, or targets; (n_samples, n_targets) for several regression
        targets, a 0/1 indicator matrix (n_samples, n_labels) for multi-label
        classification.
    groups : array-like of shape (n_samples,), optional
        Group labels (speakers, users, sessions). When the net holds rows out for
        itself (``early_stopping``, ``balance``), it holds out whole groups, so that its
        held-out signal sees the shift a group-held-out evaluation does; without groups
        the split is stratified (classifier) or random (regressor). With several blocks,
        groups turn ``balance="auto"`` (the default) into "ume". With scikit-learn's
        metadata routing, ``net.set_fit_request(groups=True)`` lets ``Pipeline`` and
        ``GridSearchCV`` pass them on.
    sample_weight : array-like of shape (n_samples,) or float, optional
        Non-negative weight of each row (None: all 1). Each batch's loss is the mean of
        its rows' losses weighted by their weights, ``sum(w_i * loss_i) / sum(w_i)``
        (a criterion with ``reduction="sum"``: that times the batch size), so only the
        ratios of the weights matter: with the whole data as one batch
        (``batch_size=-1``), an integer weight is the row repeated that many times;
        with smaller batches it is so on average. Rows of weight 0 are left out of the
        fit altogether. The weights follow the rows into the net's own held-out
        splits: they weigh the validation loss that ``early_stopping`` watches (not
        ``valid_acc``) and, with ``balance``, the per-branch heads' losses and their
        held-out evaluation (UME's combination weights, G-Blend's loss weights).
        Under metadata routing, ``net.set_fit_request(sample_weight=True)`` lets
        ``Pipeline`` and ``GridSearchCV`` pass them on.
    """,
}
