using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Client.Cluster;

/// <summary>What the user asked of <c>train start</c>; null keeps <see cref="TrainingRunSpec"/>'s default.</summary>
internal sealed record RunSpecRequest(
    int? Stages,
    int? Replicas,
    int? MicroBatches,
    string? Schedule,
    int? Steps,
    int? BatchSize,
    double? LearningRate,
    double? MinLearningRate,
    int? Warmup,
    int? Layers,
    int? Heads,
    int? Width,
    int? Context,
    double? Dropout,
    string? Corpus,
    string? Encoding,
    long? Seed,
    int? CheckpointInterval,
    int? EvalInterval)
{
    public static readonly IReadOnlyList<string> Schedules = ["gpipe", "1f1b"];

    /// <summary>
    /// The spec, checked here before any connection so bad input costs nothing (the run grain checks it again).
    /// A corpus file that exists here is sent as a full path: on a local cluster the silos read the same file.
    /// </summary>
    /// <exception cref="CliUsageException">The first bad value, named.</exception>
    public TrainingRunSpec ToSpec()
    {
        var defaults = new TrainingRunSpec();
        var corpus = Corpus ?? defaults.Corpus;
        if (corpus != defaults.Corpus && File.Exists(corpus))
        {
            corpus = Path.GetFullPath(corpus);
        }

        var learningRate = LearningRate ?? defaults.LearningRate;
        var spec = defaults with
        {
            Stages = Stages ?? defaults.Stages,
            Replicas = Replicas ?? defaults.Replicas,
            MicroBatches = MicroBatches ?? defaults.MicroBatches,
            Schedule = (Schedule ?? defaults.Schedule).Trim().ToLowerInvariant(),
            Steps = Steps ?? defaults.Steps,
            BatchSize = BatchSize ?? defaults.BatchSize,
            LearningRate = learningRate,
            MinLearningRate = MinLearningRate ?? Math.Min(defaults.MinLearningRate, learningRate),
            WarmupSteps = Warmup ?? defaults.WarmupSteps,
            Layers = Layers ?? defaults.Layers,
            Heads = Heads ?? defaults.Heads,
            Width = Width ?? defaults.Width,
            Context = Context ?? defaults.Context,
            Dropout = Dropout ?? defaults.Dropout,
            Corpus = corpus,
            Encoding = (Encoding ?? defaults.Encoding).Trim().ToLowerInvariant(),
            Seed = Seed ?? defaults.Seed,
            CheckpointInterval = CheckpointInterval ?? defaults.CheckpointInterval,
            EvalInterval = EvalInterval ?? defaults.EvalInterval,
        };
        Check(spec);
        return spec;
    }

    /// <summary>The silo's own checks, run here first so a bad option fails before connecting.</summary>
    private static void Check(TrainingRunSpec spec)
    {
        try
        {
            TrainingRunSpecs.Validate(spec);
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.Message, e);
        }
    }
}
