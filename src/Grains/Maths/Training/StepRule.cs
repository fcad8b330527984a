using InsideLLMs.Distributed.Maths.Optimization;

namespace InsideLLMs.Distributed.Maths.Training;

/// <summary>
/// What one optimizer step decides from all of its micro-batches together: the mean loss, the global gradient norm and
/// its clipping coefficient, and the learning rate. The reference trainer and the distributed run both decide here;
/// the work per micro-batch and per stage is <see cref="Pipeline.StageWorker"/>'s in both.
/// </summary>
public sealed class StepRule
{
    private readonly LearningRateSchedule _schedule;
    private readonly double _clip;

    /// <param name="options">The whole run's options; <see cref="TrainingOptions.MicroBatches"/> counts the micro-batches
    /// of the global batch (M x R on the cluster).</param>
    public StepRule(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _schedule = options.Schedule;
        _clip = options.GradClip;
        MicroBatches = options.MicroBatches;
    }

    /// <summary>Micro-batches in the global batch: each one's mean loss is scaled by 1 / this before its backward.</summary>
    public int MicroBatches { get; }

    /// <param name="gradientSumOfSquares">The squared norm of the whole model's reduced gradient (the tied matrix once).</param>
    /// <param name="microBatchLossSum">The sum of every micro-batch's mean loss (all replicas).</param>
    public StepDecision Decide(long step, double gradientSumOfSquares, double microBatchLossSum) =>
        Decide(step, gradientSumOfSquares, microBatchLossSum, MicroBatches);

    /// <param name="gradientSumOfSquares">The squared norm of the whole model's reduced gradient (the tied matrix once).</param>
    /// <param name="lossSum">Σ of every micro-batch's loss term (all replicas), as the objective reports it.</param>
    /// <param name="lossWeight">Σ of their weights: the step's loss is <paramref name="lossSum"/> / this (pre-training: M x R).</param>
    public StepDecision Decide(long step, double gradientSumOfSquares, double lossSum, double lossWeight)
    {
        var norm = Math.Sqrt(gradientSumOfSquares);
        return new StepDecision(lossSum / lossWeight, norm, GradientClipping.Coefficient(norm, _clip), _schedule.At(step));
    }
}

/// <param name="Loss">Mean training loss over the global batch, nats per token.</param>
/// <param name="GradientNorm">Global gradient norm before clipping.</param>
/// <param name="ClipCoefficient">What every gradient is multiplied by before the update (1 when under the limit).</param>
public readonly record struct StepDecision(double Loss, double GradientNorm, double ClipCoefficient, double LearningRate);

/// <summary>Validation as summed loss over counted targets, so partial sums from several batches or stages add up exactly.</summary>
public readonly record struct ValidationTally(double LossSum, long Targets)
{
    public ValidationTally Add(double lossSum, long targets) => new(LossSum + lossSum, Targets + targets);

    /// <summary>Nats per target token; NaN when nothing was counted.</summary>
    public double Mean => Targets == 0 ? double.NaN : LossSum / Targets;
}
