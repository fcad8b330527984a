using System.Globalization;
using InsideLLMs.Distributed.Maths.Model;

namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// What one pipeline stage of one replica holds in memory while it trains, estimated before anything is allocated.
/// </summary>
/// <param name="StateBytes">Weights, gradients and AdamW's two moments (4 x 4 bytes a parameter), the flat gradient the
/// all-reduce works on, and the bytes of a checkpoint being written (weights and moments again): 32 bytes a parameter.</param>
/// <param name="ActivationBytesPerMicroBatch">What one micro-batch's forward keeps for its backward.</param>
/// <param name="MicroBatchesInFlight">The most micro-batches whose activations the schedule holds at once on this stage.</param>
/// <param name="LogitBytes">The last stage's logits, their softmax and their gradient for one micro-batch.</param>
public sealed record StageMemory(int Stage, long Parameters, long StateBytes, long ActivationBytesPerMicroBatch, int MicroBatchesInFlight, long LogitBytes)
{
    /// <summary>Bytes a parameter costs while training (see <see cref="StateBytes"/>).</summary>
    public const int BytesPerParameter = 32;

    public long TotalBytes => Bytes(StateBytes + ((double)ActivationBytesPerMicroBatch * MicroBatchesInFlight) + LogitBytes);

    /// <summary>The activations of every micro-batch in flight.</summary>
    public long ActivationBytes => Bytes((double)ActivationBytesPerMicroBatch * MicroBatchesInFlight);

    /// <summary>
    /// Every stage of one replica. Activations per block follow the count of Korthikanti et al. (2022) for a
    /// transformer layer without recomputation, B·T·C·(34 + 5·H·T/C) bytes in 16-bit, doubled for fp32: the inputs of
    /// the norms, the q/k/v and attention products, the T x T scores and softmax of every head, the MLP's 4C-wide
    /// hidden layer and its activation. GPipe holds every micro-batch's activations before the first backward; 1F1B at
    /// most P - s on stage s (and never more than M).
    /// </summary>
    public static IReadOnlyList<StageMemory> Estimate(GptConfig config, int stages, int batchSize, int microBatches, PipelineScheduleKind schedule)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatches, 1);
        // In doubles: a spec far beyond any machine (a width of 10^5, a batch of 10^9) must give a huge estimate, not wrap.
        double b = batchSize, t = config.BlockSize, c = config.EmbeddingSize, h = config.HeadCount, v = config.VocabularySize;
        double bias = config.Bias ? 1 : 0;
        var block = (12 * c * c) + (11 * bias * c) + (2 * c); // attention and MLP matrices, their biases, two norm gains
        var blockActivations = 2 * b * t * c * (34 + (5 * h * t / Math.Max(1, c)));
        return
        [
            .. StageSpec.Partition(config, stages).Select(stage =>
            {
                var parameters = (stage.BlockCount * block)
                    + (stage.IsFirst ? (v + t) * c : 0)
                    + (stage.IsLast ? (c * (1 + bias)) + (stage.IsFirst ? 0 : v * c) : 0); // the last stage's own copy of the tied head
                var activations = (stage.BlockCount * blockActivations) + (stage.IsFirst ? 2 * b * t * c * 4 : 0);
                var inFlight = schedule == PipelineScheduleKind.GPipe ? microBatches : Math.Min(microBatches, stages - stage.Index);
                var logits = stage.IsLast ? 3 * b * t * v * sizeof(float) : 0;
                return new StageMemory(stage.Index, Bytes(parameters), Bytes(parameters * BytesPerParameter), Bytes(activations), inFlight, Bytes(logits));
            }),
        ];
    }

    /// <summary>A count of bytes as a long, saturating at <see cref="long.MaxValue"/> instead of wrapping.</summary>
    public static long Bytes(double value) => value >= long.MaxValue ? long.MaxValue : (long)value;

    /// <summary>Bytes as people read them: "1.4 GB", "512 MB", "80 kB".</summary>
    public static string Format(long bytes) => bytes switch
    {
        >= 1_000_000_000 => (bytes / 1e9).ToString("N1", CultureInfo.InvariantCulture) + " GB",
        >= 1_000_000 => (bytes / 1e6).ToString("F0", CultureInfo.InvariantCulture) + " MB",
        >= 1_000 => (bytes / 1e3).ToString("F0", CultureInfo.InvariantCulture) + " kB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
