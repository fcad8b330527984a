namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// One completed step of a distributed run. Times are the critical path's split (seconds of the step's wall time):
/// compute (forward and backward), messaging (waiting for activations, gradients and all-reduce chunks beyond the
/// bubble), bubble (a stage idle because of the pipeline schedule) and optimizer; bytes moved by kind, all stages and
/// replicas together. Per stage (index = stage): the measured bubble fraction and the most micro-batches whose
/// activations were held at once, each the mean or the maximum over replicas, and the bubble fraction the schedule
/// would give on an ideal pipeline with this step's mean forward and backward times (messages taking no time).
/// </summary>
/// <param name="GradientNorm">The global norm of the step's gradient (all layers, before clipping).</param>
/// <param name="LayerGradientNorms">The same gradient's norm per layer, in model order: embedding, h.0 .. h.{L-1}, ln_f.
/// Their squares add up to <paramref name="GradientNorm"/> squared. Null in history recorded before they were measured.</param>
/// <param name="UpdateNorm">||theta_after - theta_before||, the size of the step's change to the whole model (decay and AdamW
/// step, after clipping, at <paramref name="LearningRate"/>).</param>
/// <param name="ParameterNorm">||theta_before||, the whole model's norm before the step: UpdateNorm / ParameterNorm is the
/// step's relative change.</param>
[GenerateSerializer, Immutable, Alias("StepMetrics")]
public sealed record StepMetrics(
    [property: Id(0)] long Step,
    [property: Id(1)] double Loss,
    [property: Id(2)] double? ValidationLoss,
    [property: Id(3)] double LearningRate,
    [property: Id(4)] double GradientNorm,
    [property: Id(5)] double Seconds,
    [property: Id(6)] double TokensPerSecond,
    [property: Id(7)] double ComputeSeconds,
    [property: Id(8)] double MessagingSeconds,
    [property: Id(9)] double BubbleSeconds,
    [property: Id(10)] double OptimizerSeconds,
    [property: Id(11)] long ActivationBytes,
    [property: Id(12)] long GradientBytes,
    [property: Id(13)] long AllReduceBytes,
    [property: Id(14)] long TiedGradientBytes,
    [property: Id(15)] IReadOnlyList<double> StageBubbleFractions,
    [property: Id(16)] DateTimeOffset CompletedAt,
    [property: Id(17)] IReadOnlyList<int> PeakStashedActivations,
    [property: Id(18)] IReadOnlyList<double>? PredictedBubbleFractions = null,
    [property: Id(19)] IReadOnlyList<LayerGradientNorm>? LayerGradientNorms = null,
    [property: Id(20)] double? UpdateNorm = null,
    [property: Id(21)] double? ParameterNorm = null);
