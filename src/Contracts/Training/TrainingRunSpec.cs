namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// Everything a distributed training run needs: the model, the data, the optimisation and the parallel layout.
/// The global batch of a step is <see cref="BatchSize"/> x <see cref="MicroBatches"/> x <see cref="Replicas"/> rows;
/// the reference trainer with <see cref="MicroBatches"/> x <see cref="Replicas"/> micro-batches computes the same step.
/// </summary>
[GenerateSerializer, Immutable, Alias("TrainingRunSpec")]
public sealed record TrainingRunSpec
{
    /// <summary>"synthetic" or the path of a UTF-8 text file every silo can read.</summary>
    [Id(0)] public string Corpus { get; init; } = "synthetic";

    [Id(1)] public string Encoding { get; init; } = "gpt2";

    [Id(2)] public int Layers { get; init; } = 4;

    [Id(3)] public int Heads { get; init; } = 4;

    [Id(4)] public int Width { get; init; } = 128;

    [Id(5)] public int Context { get; init; } = 64;

    [Id(6)] public double Dropout { get; init; }

    [Id(7)] public int Steps { get; init; } = 1500;

    /// <summary>Rows per micro-batch.</summary>
    [Id(8)] public int BatchSize { get; init; } = 16;

    /// <summary>Micro-batches per replica per step (M).</summary>
    [Id(9)] public int MicroBatches { get; init; } = 1;

    [Id(10)] public double LearningRate { get; init; } = 2e-3;

    [Id(11)] public double MinLearningRate { get; init; } = 2e-4;

    [Id(12)] public int WarmupSteps { get; init; } = 100;

    [Id(13)] public double WeightDecay { get; init; } = 0.1;

    [Id(14)] public double Beta1 { get; init; } = 0.9;

    [Id(15)] public double Beta2 { get; init; } = 0.99;

    [Id(16)] public double GradClip { get; init; } = 1.0;

    [Id(17)] public long Seed { get; init; } = 1337;

    /// <summary>Pipeline stages (P): contiguous layers, the embedding on the first, the head and loss on the last.</summary>
    [Id(18)] public int Stages { get; init; } = 1;

    /// <summary>Data-parallel replicas (R) of the whole pipeline.</summary>
    [Id(19)] public int Replicas { get; init; } = 1;

    /// <summary>"gpipe" or "1f1b".</summary>
    [Id(20)] public string Schedule { get; init; } = "1f1b";

    /// <summary>Every K steps all stages save a consistent checkpoint; 0 never.</summary>
    [Id(21)] public int CheckpointInterval { get; init; } = 50;

    /// <summary>Validate every N steps on the last stage of replica 0; 0 never.</summary>
    [Id(22)] public int EvalInterval { get; init; } = 250;

    [Id(23)] public int? EvalBatches { get; init; } = 8;
}
