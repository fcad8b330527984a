namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>What one stage of one replica's optimizer step did.</summary>
/// <param name="UpdateSumOfSquares">||theta_after - theta_before||^2 over this stage's parameters (the tied matrix counted
/// once, on the first stage).</param>
/// <param name="ParameterSumOfSquares">||theta_before||^2 over the same parameters.</param>
/// <param name="Span">The update's trace span.</param>
[GenerateSerializer, Immutable, Alias("StageUpdateReport")]
public sealed record StageUpdateReport(
    [property: Id(0)] int Stage,
    [property: Id(1)] int Replica,
    [property: Id(2)] double UpdateSumOfSquares,
    [property: Id(3)] double ParameterSumOfSquares,
    [property: Id(4)] TraceSpan Span);
