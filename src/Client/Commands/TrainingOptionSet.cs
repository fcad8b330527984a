using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>
/// The training options <c>train --local</c> and <c>train start</c> share, declared once. What the user typed becomes
/// a <see cref="TrainingChoices"/>; unset values keep the baseline's: the spec's defaults (which are the synthetic
/// preset's) on the cluster, the chosen preset's locally.
/// </summary>
internal sealed class TrainingOptionSet
{
    private static readonly TrainingRunSpec Defaults = new();

    public Option<string?> Corpus { get; } = new("--corpus") { Description = "'synthetic' or a UTF-8 text file: locally its path; on a cluster its name in the silos' data directory (Data:Directory).", HelpName = "synthetic|path" };

    public Option<string?> Encoding { get; } = new("--encoding", "-e") { Description = "Token encoding of the corpus: gpt2, r50k, cl100k, o200k, char.", HelpName = "name" };

    public Option<int?> Steps { get; } = new("--steps") { Description = $"Optimizer steps in the whole run (default {Defaults.Steps})." };

    public Option<int?> BatchSize { get; } = new("--batch-size") { Description = $"Rows per micro-batch (default {Defaults.BatchSize})." };

    public Option<int?> MicroBatches { get; } = new("--micro-batches") { Description = $"Micro-batches accumulated per step, per replica (default {Defaults.MicroBatches})." };

    public Option<double?> LearningRate { get; } = new("--lr") { Description = string.Create(CultureInfo.InvariantCulture, $"Peak learning rate (default {Defaults.LearningRate}).") };

    public Option<double?> MinLearningRate { get; } = new("--min-lr") { Description = "Learning rate at the end of the cosine (default: the smaller of the preset's and --lr)." };

    public Option<int?> Warmup { get; } = new("--warmup") { Description = $"Linear warmup steps (default {Defaults.WarmupSteps})." };

    public Option<int?> Layers { get; } = new("--layers") { Description = $"Transformer blocks (default {Defaults.Layers})." };

    public Option<int?> Heads { get; } = new("--heads") { Description = $"Attention heads, must divide --width (default {Defaults.Heads})." };

    public Option<int?> Width { get; } = new("--width") { Description = $"Embedding width C (default {Defaults.Width})." };

    public Option<int?> Context { get; } = new("--context") { Description = $"Context length T in tokens (default {Defaults.Context})." };

    public Option<double?> Dropout { get; } = new("--dropout") { Description = "Dropout probability (local only: distributed runs train with 0)." };

    public Option<long?> Seed { get; } = new("--seed") { Description = $"Seeds the weights, the batches and dropout (default {Defaults.Seed})." };

    public Option<int?> EvalInterval { get; } = new("--eval-interval") { Description = "Validate every N steps (0: locally only at the end, on a cluster never)." };

    public Option<int?> EvalBatches { get; } = new("--eval-batches") { Description = $"Validation batches per evaluation (default: the whole split locally, {Defaults.EvalBatches} on a cluster)." };

    public Option<int?> CheckpointInterval { get; } = new("--checkpoint-interval") { Description = $"Checkpoint every K steps (locally also at the end; on a cluster default {Defaults.CheckpointInterval}, 0 never)." };

    public IEnumerable<Option> All =>
    [
        Corpus, Encoding, Steps, BatchSize, MicroBatches, LearningRate, MinLearningRate, Warmup, Layers, Heads, Width, Context, Dropout,
        Seed, EvalInterval, EvalBatches, CheckpointInterval,
    ];

    public TrainingChoices Read(CliContext cli) => new(
        cli.GetValue(Corpus), cli.GetValue(Encoding), cli.GetValue(Steps), cli.GetValue(BatchSize), cli.GetValue(MicroBatches),
        cli.GetValue(LearningRate), cli.GetValue(MinLearningRate), cli.GetValue(Warmup), cli.GetValue(Layers), cli.GetValue(Heads),
        cli.GetValue(Width), cli.GetValue(Context), cli.GetValue(Dropout), cli.GetValue(Seed), cli.GetValue(EvalInterval),
        cli.GetValue(EvalBatches), cli.GetValue(CheckpointInterval));
}

/// <summary>What the user set of the shared training options; null keeps the baseline's value.</summary>
internal sealed record TrainingChoices(
    string? Corpus,
    string? Encoding,
    int? Steps,
    int? BatchSize,
    int? MicroBatches,
    double? LearningRate,
    double? MinLearningRate,
    int? Warmup,
    int? Layers,
    int? Heads,
    int? Width,
    int? Context,
    double? Dropout,
    long? Seed,
    int? EvalInterval,
    int? EvalBatches,
    int? CheckpointInterval)
{
    /// <summary>True when any option that changes the maths (model, data or optimisation) was given.</summary>
    public bool ChangesTheMaths =>
        new object?[] { Encoding, BatchSize, MicroBatches, LearningRate, MinLearningRate, Warmup, Layers, Heads, Width, Context, Dropout, Seed }
            .Any(value => value is not null);

    /// <summary>
    /// The baseline with every given value applied. A lower --lr lowers the cosine's floor with it, so a small
    /// learning rate alone is not refused for being under the default minimum.
    /// </summary>
    public TrainingRunSpec ApplyTo(TrainingRunSpec baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        var learningRate = LearningRate ?? baseline.LearningRate;
        return baseline with
        {
            Corpus = Corpus ?? baseline.Corpus,
            Encoding = (Encoding ?? baseline.Encoding).Trim().ToLowerInvariant(),
            Steps = Steps ?? baseline.Steps,
            BatchSize = BatchSize ?? baseline.BatchSize,
            MicroBatches = MicroBatches ?? baseline.MicroBatches,
            LearningRate = learningRate,
            MinLearningRate = MinLearningRate ?? Math.Min(baseline.MinLearningRate, learningRate),
            WarmupSteps = Warmup ?? baseline.WarmupSteps,
            Layers = Layers ?? baseline.Layers,
            Heads = Heads ?? baseline.Heads,
            Width = Width ?? baseline.Width,
            Context = Context ?? baseline.Context,
            Dropout = Dropout ?? baseline.Dropout,
            Seed = Seed ?? baseline.Seed,
            EvalInterval = EvalInterval ?? baseline.EvalInterval,
            EvalBatches = EvalBatches ?? baseline.EvalBatches,
            CheckpointInterval = CheckpointInterval ?? baseline.CheckpointInterval,
        };
    }
}
