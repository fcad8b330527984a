namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>A token of a training row: its model ID, its encoding ID and its text for display (&lt;eod&gt; ends a document).</summary>
[GenerateSerializer, Immutable, Alias("TrainingTokenInfo")]
public sealed record TrainingTokenInfo(
    [property: Id(0)] int ModelId,
    [property: Id(1)] int SourceId,
    [property: Id(2)] string Text);
