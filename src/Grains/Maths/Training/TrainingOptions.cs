using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Optimization;

namespace InsideLLMs.Distributed.Maths.Training;

/// <summary>
/// How a run trains. Defaults follow nanoGPT's character-level Shakespeare run on CPU (batch 12, lr 1e-3 down to
/// 1e-4, 100 warmup steps, beta2 0.99 because each batch holds few tokens, clip at 1.0).
/// </summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 2000;

    /// <summary>Rows per micro-batch.</summary>
    public int BatchSize { get; init; } = 12;

    /// <summary>Micro-batches per optimizer step (gradient accumulation); the global batch is BatchSize x MicroBatches rows.</summary>
    public int MicroBatches { get; init; } = 1;

    public double LearningRate { get; init; } = 1e-3;

    public double MinLearningRate { get; init; } = 1e-4;

    public int WarmupSteps { get; init; } = 100;

    /// <summary>Step at which the cosine reaches <see cref="MinLearningRate"/>; null means <see cref="Steps"/>.</summary>
    public int? DecaySteps { get; init; }

    public double WeightDecay { get; init; } = 0.1;

    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.99;

    /// <summary>Global gradient-norm limit; 0 turns clipping off.</summary>
    public double GradClip { get; init; } = 1.0;

    /// <summary>Validate every this many steps (and after the last); 0 only after the last.</summary>
    public int EvalInterval { get; init; } = 250;

    /// <summary>Validation batches per evaluation; null evaluates the whole validation split.</summary>
    public int? EvalBatches { get; init; }

    /// <summary>Save a checkpoint every this many steps (and after the last); 0 never.</summary>
    public int CheckpointInterval { get; init; }

    /// <summary>Seeds the initial weights, the batches and dropout.</summary>
    public long Seed { get; init; } = 1337;

    /// <summary>What the last stage minimises: next-token cross-entropy (pre-training) or response-only cross-entropy (SFT).</summary>
    public ObjectiveKind Objective { get; init; } = ObjectiveKind.Pretrain;

    /// <summary>K, the completions of each ranking a reward model trains on (4: the ranking tasks' default); rows per micro-batch are a multiple of it.</summary>
    public int RankingCompletions { get; init; } = 4;

    /// <summary>libtorch threads for this trainer's thread (OpenMP: torch.set_num_threads applies to the calling OS thread only).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    public LearningRateSchedule Schedule => new(LearningRate, MinLearningRate, WarmupSteps, DecaySteps ?? Steps);

    public AdamWOptions Optimizer => new(Beta1, Beta2, WeightDecay: WeightDecay);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad value.</summary>
    public TrainingOptions Validate()
    {
        Check(Steps >= 1, $"steps must be at least 1; got {Steps}.");
        Check(BatchSize >= 1, $"batch size must be at least 1; got {BatchSize}.");
        Check(MicroBatches >= 1, $"micro-batches must be at least 1; got {MicroBatches}.");
        Check(double.IsFinite(LearningRate) && LearningRate > 0, $"learning rate must be positive; got {LearningRate}.");
        Check(double.IsFinite(MinLearningRate) && MinLearningRate >= 0 && MinLearningRate <= LearningRate,
            $"min learning rate must be between 0 and the learning rate {LearningRate}; got {MinLearningRate}.");
        Check(WarmupSteps >= 0, $"warmup steps cannot be negative; got {WarmupSteps}.");
        Check(DecaySteps is null or >= 1, $"decay steps must be at least 1; got {DecaySteps}.");
        Check(double.IsFinite(WeightDecay) && WeightDecay >= 0, $"weight decay cannot be negative; got {WeightDecay}.");
        Check(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, $"betas must be in [0, 1); got {Beta1} and {Beta2}.");
        Check(double.IsFinite(GradClip) && GradClip >= 0, $"gradient clip cannot be negative; got {GradClip}.");
        Check(EvalInterval >= 0 && CheckpointInterval >= 0, "intervals cannot be negative.");
        Check(EvalBatches is null or >= 1, $"evaluation batches must be at least 1; got {EvalBatches}.");
        Check(Enum.IsDefined(Objective), $"unknown training objective {Objective}.");
        Check(RankingCompletions is >= 2 and <= 9, $"a ranking orders 2 to 9 completions; got {RankingCompletions}.");
        Check(Objective != ObjectiveKind.Reward || BatchSize % RankingCompletions == 0,
            $"a reward model's micro-batch holds whole rankings: the batch size {BatchSize} must be a multiple of the {RankingCompletions} completions of a ranking.");
        Check(Threads >= 1, $"threads must be at least 1; got {Threads}.");
        return this;
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}
