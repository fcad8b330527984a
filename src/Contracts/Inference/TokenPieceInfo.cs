namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>A token of a text: its piece, UTF-8 byte range, encoding ID and model ID (1 = unknown to the model).</summary>
[GenerateSerializer, Immutable, Alias("TokenPieceInfo")]
public sealed record TokenPieceInfo(
    [property: Id(0)] string Text,
    [property: Id(1)] int ByteStart,
    [property: Id(2)] int ByteLength,
    [property: Id(3)] int SourceId,
    [property: Id(4)] int ModelId);
