using InsideLLMs.Distributed.Maths.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Objectives;

/// <summary>
/// Pre-training: the mean cross-entropy of each micro-batch's next tokens, each micro-batch counting once. Every
/// training window has B x T targets, so the mean of the micro-batches' means is the mean over the step's tokens.
/// </summary>
public sealed class NextTokenCrossEntropy : TrainingObjective
{
    private readonly double _scale;

    /// <param name="microBatchesPerStep">M x R: each micro-batch's mean is divided by it before its backward.</param>
    public NextTokenCrossEntropy(int microBatchesPerStep)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchesPerStep, 1);
        _scale = 1.0 / microBatchesPerStep;
    }

    public override ObjectiveKind Kind => ObjectiveKind.Pretrain;

    public override ObjectiveTerm Loss(Tensor output, ObjectiveTargets targets)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(targets);
        var mean = GptStage.Loss(output, targets.Tensor());
        using var scale = _scale.ToScalar();
        return new ObjectiveTerm(mean.mul(scale), mean.item<float>(), Weight: 1);
    }

    public override (double LossSum, long Count) Evaluate(Tensor output, ObjectiveTargets targets) => SummedCrossEntropy(output, targets);
}
