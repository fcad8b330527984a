namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>
/// A contiguous slice of the model: blocks [FirstBlock, FirstBlock + BlockCount), the embeddings when it is the
/// first stage, and the final norm, head and loss when it is the last. The whole model is the one stage that is both.
/// </summary>
public sealed record StageSpec(int Index, int Count, int FirstBlock, int BlockCount)
{
    public bool IsFirst => Index == 0;

    public bool IsLast => Index == Count - 1;

    public static StageSpec Whole(GptConfig config) => new(0, 1, 0, config.LayerCount);

    /// <summary>
    /// Cuts <paramref name="config"/>'s blocks into <paramref name="stageCount"/> contiguous stages, as even as possible,
    /// earlier stages taking the extra block (the first stage also embeds, the last also runs the head).
    /// </summary>
    public static IReadOnlyList<StageSpec> Partition(GptConfig config, int stageCount)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (stageCount < 1 || stageCount > config.LayerCount)
        {
            throw new ArgumentException(
                $"Cannot cut {config.LayerCount} layers into {stageCount} pipeline stages: each stage needs at least one layer.");
        }

        var stages = new List<StageSpec>(stageCount);
        var first = 0;
        for (var i = 0; i < stageCount; i++)
        {
            var count = config.LayerCount / stageCount + (i < config.LayerCount % stageCount ? 1 : 0);
            stages.Add(new StageSpec(i, stageCount, first, count));
            first += count;
        }

        return stages;
    }
}
