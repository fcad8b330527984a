using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>A stage's persisted part: what it is, and its two latest checkpoints (a rollback needs the consistent one).</summary>
[GenerateSerializer, Alias("StageCheckpointState")]
public sealed class StageCheckpointState
{
    [Id(0)] public StageAssignment? Assignment { get; set; }

    [Id(1)] public long CurrentStep { get; set; } = -1;

    [Id(2)] public byte[]? Current { get; set; }

    [Id(3)] public long PreviousStep { get; set; } = -1;

    [Id(4)] public byte[]? Previous { get; set; }
}

[GenerateSerializer, Alias("DataShardState")]
public sealed class DataShardState
{
    [Id(0)] public TrainingRunSpec? Spec { get; set; }

    [Id(1)] public int Replica { get; set; }
}

[GenerateSerializer, Alias("TrainingRunState")]
public sealed class TrainingRunState
{
    [Id(0)] public TrainingRunSpec? Spec { get; set; }

    [Id(1)] public RunPhase Phase { get; set; }

    /// <summary>Steps completed as of the last write (the checkpoint's step after a rollback).</summary>
    [Id(2)] public long Step { get; set; }

    [Id(3)] public long LastCheckpointStep { get; set; } = -1;

    [Id(4)] public List<StepMetrics> History { get; set; } = [];

    [Id(5)] public List<RecoveryRecord> Recoveries { get; set; } = [];

    [Id(6)] public DateTimeOffset? StartedAt { get; set; }

    [Id(7)] public string? Error { get; set; }

    /// <summary>Embeddings views taken during training (step 0, every EvalInterval steps, the end), oldest first.</summary>
    [Id(8)] public List<EmbeddingView> EmbeddingSnapshots { get; set; } = [];
}

[GenerateSerializer, Alias("TrainingRegistryState")]
public sealed class TrainingRegistryState
{
    [Id(0)] public HashSet<string> ActiveRuns { get; set; } = [];

    /// <summary>The memory each active run was admitted with (bytes, every stage of every replica).</summary>
    [Id(1)] public Dictionary<string, long> EstimatedBytes { get; set; } = [];
}
