using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Maths.Training;

/// <summary>One optimizer step's outcome.</summary>
/// <param name="Step">1-based count of steps completed, this one included.</param>
/// <param name="Loss">Mean training loss over the global batch, nats per token.</param>
/// <param name="GradientNorm">Global gradient norm before clipping.</param>
/// <param name="LayerGradients">The same gradient's squared norm per layer, in model order (they add up to its square).</param>
/// <param name="Update">The size of the step's parameter change, and of the parameters before it.</param>
public sealed record StepResult(
    long Step,
    double Loss,
    double LearningRate,
    double GradientNorm,
    long Tokens,
    TimeSpan Duration,
    IReadOnlyList<LayerGradientSquares> LayerGradients,
    UpdateSquares Update);

/// <summary>What a long run reports as it goes: enough for a progress bar and a loss chart.</summary>
public sealed record TrainingProgress(
    long Step,
    long TotalSteps,
    double Loss,
    double? ValidationLoss,
    double LearningRate,
    double TokensPerSecond,
    TimeSpan Elapsed,
    TimeSpan Remaining);

/// <summary>The end of a run.</summary>
public sealed record TrainingSummary(
    long Steps,
    double FinalLoss,
    double? ValidationLoss,
    double? EntropyFloor,
    long Tokens,
    TimeSpan Elapsed,
    double TokensPerSecond,
    double GigaflopsPerSecond,
    IReadOnlyList<(long Step, double Loss)> ValidationHistory);
