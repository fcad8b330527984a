namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>A stage's part of the gradient reduction: ring all-reduce across replicas, then the tied-weight exchange.</summary>
/// <param name="GradientSumOfSquares">Sum of squared gradients this stage contributes to the global norm (the tied
/// matrix counted once, on the first stage).</param>
/// <param name="LayerGradientNorms">The same gradient's norm per layer of this stage, in model order; their squares add
/// up to <paramref name="GradientSumOfSquares"/>.</param>
[GenerateSerializer, Immutable, Alias("StageReduceReport")]
public sealed record StageReduceReport(
    [property: Id(0)] int Stage,
    [property: Id(1)] int Replica,
    [property: Id(2)] long AllReduceBytesSent,
    [property: Id(3)] long TiedBytesSent,
    [property: Id(4)] long GradientBytes,
    [property: Id(5)] double GradientSumOfSquares,
    [property: Id(6)] double Seconds,
    [property: Id(7)] IReadOnlyList<TraceSpan> Trace,
    [property: Id(8)] IReadOnlyList<LayerGradientNorm>? LayerGradientNorms = null);
