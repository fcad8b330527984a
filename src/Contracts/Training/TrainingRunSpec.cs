using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// Everything a distributed training run needs: the model, the data, the optimisation and the parallel layout.
/// The global batch of a step is <see cref="BatchSize"/> x <see cref="MicroBatches"/> x <see cref="Replicas"/> rows;
/// the reference trainer with <see cref="MicroBatches"/> x <see cref="Replicas"/> micro-batches computes the same step.
/// The model, data and optimisation defaults are the built-in synthetic preset's (one source for the client, the page
/// and the benchmarks); the layout, checkpoint and validation defaults are the cluster's own.
/// </summary>
[GenerateSerializer, Immutable, Alias("TrainingRunSpec")]
public sealed record TrainingRunSpec
{
    private static TrainingPreset Default => TrainingPresets.Synthetic;

    /// <summary>"synthetic", or a UTF-8 text file named relative to the silos' data directory (<c>Data:Directory</c>).</summary>
    [Id(0)] public string Corpus { get; init; } = Default.Corpus;

    [Id(1)] public string Encoding { get; init; } = Default.Encoding;

    [Id(2)] public int Layers { get; init; } = Default.Model.LayerCount;

    [Id(3)] public int Heads { get; init; } = Default.Model.HeadCount;

    [Id(4)] public int Width { get; init; } = Default.Model.EmbeddingSize;

    [Id(5)] public int Context { get; init; } = Default.Model.BlockSize;

    [Id(6)] public double Dropout { get; init; } = Default.Model.Dropout;

    [Id(7)] public int Steps { get; init; } = Default.Training.Steps;

    /// <summary>Rows per micro-batch.</summary>
    [Id(8)] public int BatchSize { get; init; } = Default.Training.BatchSize;

    /// <summary>Micro-batches per replica per step (M).</summary>
    [Id(9)] public int MicroBatches { get; init; } = Default.Training.MicroBatches;

    [Id(10)] public double LearningRate { get; init; } = Default.Training.LearningRate;

    [Id(11)] public double MinLearningRate { get; init; } = Default.Training.MinLearningRate;

    [Id(12)] public int WarmupSteps { get; init; } = Default.Training.WarmupSteps;

    [Id(13)] public double WeightDecay { get; init; } = Default.Training.WeightDecay;

    [Id(14)] public double Beta1 { get; init; } = Default.Training.Beta1;

    [Id(15)] public double Beta2 { get; init; } = Default.Training.Beta2;

    [Id(16)] public double GradClip { get; init; } = Default.Training.GradClip;

    [Id(17)] public long Seed { get; init; } = Default.Training.Seed;

    /// <summary>Pipeline stages (P): contiguous layers, the embedding on the first, the head and loss on the last.</summary>
    [Id(18)] public int Stages { get; init; } = 1;

    /// <summary>Data-parallel replicas (R) of the whole pipeline.</summary>
    [Id(19)] public int Replicas { get; init; } = 1;

    /// <summary>"gpipe" or "1f1b".</summary>
    [Id(20)] public string Schedule { get; init; } = "1f1b";

    /// <summary>Every K steps all stages save a consistent checkpoint; 0 never.</summary>
    [Id(21)] public int CheckpointInterval { get; init; } = 50;

    /// <summary>Validate every N steps on the last stage of replica 0; 0 never.</summary>
    [Id(22)] public int EvalInterval { get; init; } = Default.Training.EvalInterval;

    /// <summary>Validation batches per evaluation: the cluster reads 8 (the benchmarks measure the whole split).</summary>
    [Id(23)] public int? EvalBatches { get; init; } = 8;

    /// <summary>
    /// What the last stage minimises: "pretrain" (next-token cross-entropy on every target), "sft" (cross-entropy on
    /// the response tokens of instruction/response rows only) or "reward" (a score head trained with Bradley-Terry over
    /// every pair of each ranking: the reward model).
    /// </summary>
    [Id(24)] public string Objective { get; init; } = TrainingRunSpecs.PretrainObjective;

    /// <summary>
    /// A published model version whose weights the run starts from instead of the seed's (an sft run needs one). Its
    /// shape and vocabulary must be this spec's: the model fields and <see cref="Corpus"/> name the base model's.
    /// </summary>
    [Id(25)] public string? InitFrom { get; init; }

    /// <summary>sft only: "synthetic" (the built-in corpus's instructions, the default) or a JSON Lines file in the silos' data directory.</summary>
    [Id(26)] public string? Instructions { get; init; }

    /// <summary>
    /// The revision of <see cref="InitFrom"/> the run starts from: the cluster sets it when the run starts (if given, it
    /// must be the version's current revision), so a version republished later cannot change what the run started from.
    /// </summary>
    [Id(27)] public long? InitRevision { get; init; }

    /// <summary>
    /// reward only: where the rankings come from, "cluster" (every stored ranking of a task of <see cref="RankingCompletions"/>
    /// completions, taken when the run starts) or "synthetic" (the built-in rankings, the default).
    /// </summary>
    [Id(28)] public string? Rankings { get; init; }

    /// <summary>reward only: K, the completions of each ranking (2 to 9; 4 as the ranking tasks'); <see cref="BatchSize"/> rows hold BatchSize / K rankings.</summary>
    [Id(29)] public int RankingCompletions { get; init; } = 4;

    /// <summary>
    /// A stopped or finished run whose last consistent checkpoint this run continues from, at this spec's layout (stages,
    /// replicas, micro-batches and schedule may differ; the model, corpus, encoding, seed and objective must be its).
    /// </summary>
    [Id(30)] public string? ResumeFrom { get; init; }

    /// <summary>The step of <see cref="ResumeFrom"/>'s checkpoint the run continues from: the cluster sets it when the run starts.</summary>
    [Id(31)] public long? ResumeStep { get; init; }
}
