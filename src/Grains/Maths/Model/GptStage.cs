using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>
/// A GPT, or a contiguous stage of one (<see cref="StageSpec"/>). The whole model is the stage that is both first
/// and last; cutting it into stages and running them in turn computes exactly what the whole model computes,
/// because every parameter is initialised from its own name and the seed, whichever stage holds it.
/// </summary>
/// <remarks>
/// The LM head is tied to the token embedding (as in GPT-2). A stage that has the head but not the embedding holds
/// its own copy, <c>lm_head.weight</c>, initialised like <c>wte.weight</c>; the pipeline adds the two gradients
/// together so both copies take the same step.
/// State-dict keys follow nanoGPT: <c>wte.weight</c>, <c>wpe.weight</c>, <c>h.{layer}.attn.c_attn.weight</c>, ...,
/// with the global layer index, so a stage's keys are a subset of the whole model's.
/// </remarks>
public sealed class GptStage : Module
{
    /// <summary>Targets with this value add nothing to the loss (padding in validation windows).</summary>
    public const long IgnoreIndex = -100;

    private readonly Embedding? wte;
    private readonly Embedding? wpe;
    private readonly Dropout? drop;
    private readonly ModuleDict<Block> h;
    private readonly LayerNorm? ln_f;
    private readonly Parameter? lm_head;
    private readonly Linear? score_head;
    private readonly Block[] _blocks;

    /// <param name="head">What the last stage ends in: the tied LM head (logits) or a scalar score head (a reward or
    /// value model). Other stages ignore it.</param>
    public GptStage(GptConfig config, StageSpec stage, long seed, StageHead head = StageHead.Language) : base(nameof(GptStage))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(stage);
        config.Validate();
        if (stage.FirstBlock < 0 || stage.BlockCount < 1 || stage.FirstBlock + stage.BlockCount > config.LayerCount)
        {
            throw new ArgumentException($"Stage blocks {stage.FirstBlock}..{stage.FirstBlock + stage.BlockCount - 1} lie outside 0..{config.LayerCount - 1}.");
        }

        if (!Enum.IsDefined(head))
        {
            throw new ArgumentException($"Unknown stage head {head}.", nameof(head));
        }

        Config = config;
        Stage = stage;
        OutputHead = head;
        if (stage.IsFirst)
        {
            wte = Embedding(config.VocabularySize, config.EmbeddingSize);
            wpe = Embedding(config.BlockSize, config.EmbeddingSize);
            drop = Dropout(config.Dropout);
            register_module("wte", wte);
            register_module("wpe", wpe);
            register_module("drop", drop);
        }

        h = new ModuleDict<Block>();
        _blocks = [.. Enumerable.Range(stage.FirstBlock, stage.BlockCount).Select(layer => new Block(config, layer))];
        for (var i = 0; i < _blocks.Length; i++)
        {
            h.Add(((stage.FirstBlock + i).ToString(System.Globalization.CultureInfo.InvariantCulture), _blocks[i]));
        }

        register_module("h", h);
        if (stage.IsLast)
        {
            ln_f = LayerNorm(config.EmbeddingSize, elementwise_affine: true, bias: config.Bias);
            register_module("ln_f", ln_f);
            if (head == StageHead.Score)
            {
                score_head = Linear(config.EmbeddingSize, 1, hasBias: false);
                register_module("score_head", score_head);
            }
            else if (!stage.IsFirst)
            {
                lm_head = new Parameter(empty(config.VocabularySize, config.EmbeddingSize));
                register_parameter("lm_head.weight", lm_head);
            }
        }

        Initialize(seed);
    }

    public GptConfig Config { get; }

    public StageSpec Stage { get; }

    /// <summary>What the model ends in (only the last stage has a head).</summary>
    public StageHead OutputHead { get; }

    /// <summary>
    /// Whether the last stage's head is the token embedding (GPT-2's tying): a language head is; a score head is its own
    /// (1, C) projection, so a pipeline of a score model has no tied matrix to keep equal across stages.
    /// </summary>
    public bool TiesEmbedding => OutputHead == StageHead.Language;

    /// <summary>The (V, C) matrix the language head multiplies by: the embedding itself, or this stage's copy of it.</summary>
    public Tensor? HeadWeight => Stage.IsLast && TiesEmbedding ? (lm_head ?? wte!.weight!) : null;

    /// <summary>The token embedding table (V, C), on the first stage only.</summary>
    public Tensor? TokenEmbedding => wte?.weight;

    /// <summary>
    /// First stage: token IDs (B, T) as int64. Later stages: the previous stage's hidden states (B, T, C).
    /// Returns logits (B, T, V) on the last stage (scores (B, T, 1) with a score head), hidden states (B, T, C) on the others.
    /// With a <paramref name="cache"/>, the input is the tokens after the cached ones (positions continue from
    /// <see cref="KvCache.Length"/>) and their keys and values are added to it.
    /// </summary>
    public Tensor Forward(Tensor input, AttentionProbe? probe = null, KvCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        var x = Stage.IsFirst ? Embed(input, cache?.Length ?? 0) : input; // (B, T, C)
        foreach (var block in _blocks)
        {
            x = block.Forward(x, probe, cache); // (B, T, C)
        }

        cache?.Advance((int)input.shape[1]);
        if (!Stage.IsLast)
        {
            return x;
        }

        return score_head is null ? Head(x) : score_head.call(ln_f!.call(x)); // (B, T, V) or (B, T, 1)
    }

    /// <summary>The per-layer group of the embedding tables; <c>lm_head.weight</c>, the tied copy of <c>wte.weight</c>, belongs to it too.</summary>
    public const string EmbeddingLayer = "embedding";

    /// <summary>The per-layer group of the final LayerNorm (the language head has no parameters of its own: it is the embedding).</summary>
    public const string FinalNormLayer = "ln_f";

    /// <summary>The per-layer group of a score head's projection.</summary>
    public const string ScoreHeadLayer = "score_head";

    /// <summary>
    /// The layer a parameter belongs to, for per-layer statistics: <see cref="EmbeddingLayer"/> (wte, wpe, lm_head),
    /// <c>h.{i}</c> for block i (its state-dict prefix), <see cref="FinalNormLayer"/>, <see cref="ScoreHeadLayer"/>.
    /// </summary>
    public static string LayerOf(string parameterName)
    {
        ArgumentNullException.ThrowIfNull(parameterName);
        if (parameterName.StartsWith("h.", StringComparison.Ordinal))
        {
            return parameterName[..parameterName.IndexOf('.', 2)];
        }

        return parameterName.StartsWith("ln_f.", StringComparison.Ordinal) ? FinalNormLayer
            : parameterName.StartsWith("score_head.", StringComparison.Ordinal) ? ScoreHeadLayer
            : EmbeddingLayer;
    }

    /// <summary>Where a layer of <see cref="LayerOf"/> sits in the model: the embedding first, the blocks in order, the final norm, a score head last.</summary>
    public static int LayerRank(string layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return layer switch
        {
            EmbeddingLayer => -1,
            FinalNormLayer => int.MaxValue - 1,
            ScoreHeadLayer => int.MaxValue,
            _ => int.Parse(layer.AsSpan(2), System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Mean cross-entropy of logits (B, T, V) against targets (B, T), ignoring <see cref="IgnoreIndex"/>.</summary>
    public static Tensor Loss(Tensor logits, Tensor targets) =>
        functional.cross_entropy(logits.view(-1, logits.shape[^1]), targets.view(-1), ignore_index: IgnoreIndex);

    /// <summary>The final LayerNorm and head applied to a residual stream (B, T, C): the logit lens uses it on every layer.</summary>
    public Tensor Head(Tensor x)
    {
        if (!Stage.IsLast || !TiesEmbedding)
        {
            throw new InvalidOperationException("Only the last stage of a language model has the final norm and the language head.");
        }

        return functional.linear(ln_f!.call(x), HeadWeight!); // (B, T, V)
    }

    private Tensor Embed(Tensor tokens, int start)
    {
        if (tokens.dtype != ScalarType.Int64 || tokens.dim() != 2)
        {
            throw new ArgumentException($"The first stage takes token IDs (B, T) as int64; got {tokens.dtype} with {tokens.dim()} dimensions.");
        }

        var time = tokens.shape[1];
        if (start + time > Config.BlockSize)
        {
            throw new ArgumentException(
                $"Positions {start}..{start + time - 1} lie beyond the context of {Config.BlockSize}: the model learned positions 0..{Config.BlockSize - 1} only.");
        }

        using var from = start.ToScalar();
        using var to = (start + time).ToScalar();
        using var positions = arange(from, to, dtype: ScalarType.Int64); // (T)
        return drop!.call(wte!.call(tokens).Plus(wpe!.call(positions))); // (B, T, C)
    }

    /// <summary>
    /// nanoGPT's initialisation: N(0, 0.02) for weights and embeddings, zeros for biases, ones for norm gains, and
    /// N(0, 0.02/sqrt(2L)) for the projections that write into the residual stream (so its variance stays flat with
    /// depth). Each tensor draws from its own generator seeded by (seed, name): a stage gets the same numbers the whole
    /// model would have, without building the whole model.
    /// </summary>
    private void Initialize(long seed)
    {
        var projectionStd = 0.02 / Math.Sqrt(2.0 * Config.LayerCount);
        using var _ = no_grad();
        foreach (var (name, parameter) in named_parameters())
        {
            var sourceName = name == "lm_head.weight" ? "wte.weight" : name;
            using var generator = new Generator((ulong)ParameterSeed(seed, sourceName));
            if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                parameter.zero_();
            }
            else if (name.Contains("ln_", StringComparison.Ordinal))
            {
                parameter.fill_(Scalars.One);
            }
            else
            {
                var std = name.EndsWith("c_proj.weight", StringComparison.Ordinal) ? projectionStd : 0.02;
                parameter.normal_(0.0, std, generator);
            }
        }
    }

    /// <summary>FNV-1a of the name mixed with the seed: stable across processes and .NET versions.</summary>
    internal static long ParameterSeed(long seed, string name)
    {
        var hash = 14695981039346656037UL ^ (ulong)seed;
        foreach (var c in name)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        hash ^= hash >> 33;
        return (long)(hash & long.MaxValue);
    }
}
