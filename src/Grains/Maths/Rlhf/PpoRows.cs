using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// A batch of completions as training rows (B × T, T the context): row b is its prompt followed by its completion's
/// tokens, padded with EOD; the target at position t is token t + 1 where that token belongs to the completion and
/// <see cref="GptStage.IgnoreIndex"/> elsewhere, so row b's actions sit at flat positions
/// <c>First[b] .. First[b] + Count[b] − 1</c> and every per-token quantity (log-probabilities, values, advantages) is a
/// float per flat position.
/// </summary>
public sealed record PpoRows(long[] Inputs, long[] Targets, int BatchSize, int BlockSize, int[] First, int[] Count)
{
    public int Cells => BatchSize * BlockSize;

    /// <summary>Completion tokens in the batch: what the PPO losses average over.</summary>
    public long Actions => Count.Sum();

    public long[] Shape => [BatchSize, BlockSize];

    /// <summary>The rows of <paramref name="prompts"/> and their <paramref name="completions"/> (the end token included when produced).</summary>
    /// <exception cref="ArgumentException">A row is longer than the context plus one, or a completion is empty.</exception>
    public static PpoRows Build(IReadOnlyList<int[]> prompts, IReadOnlyList<int[]> completions, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(completions);
        if (prompts.Count != completions.Count || prompts.Count == 0)
        {
            throw new ArgumentException($"Rows pair each prompt with its completion; got {prompts.Count} prompts and {completions.Count} completions.");
        }

        var inputs = new long[prompts.Count * blockSize];
        var targets = new long[prompts.Count * blockSize];
        Array.Fill(targets, GptStage.IgnoreIndex);
        var first = new int[prompts.Count];
        var count = new int[prompts.Count];
        for (var b = 0; b < prompts.Count; b++)
        {
            var (prompt, completion) = (prompts[b], completions[b]);
            if (prompt.Length == 0 || completion.Length == 0 || prompt.Length + completion.Length > blockSize + 1)
            {
                throw new ArgumentException($"Row {b} has a prompt of {prompt.Length} and a completion of {completion.Length} tokens: both non-empty, together at most {blockSize + 1}.");
            }

            int[] row = [.. prompt, .. completion];
            for (var p = 0; p < blockSize; p++)
            {
                inputs[(b * blockSize) + p] = p < row.Length - 1 ? row[p] : ModelVocabulary.EndOfDocument;
            }

            first[b] = (b * blockSize) + prompt.Length - 1;
            count[b] = completion.Length;
            for (var i = 0; i < completion.Length; i++)
            {
                targets[first[b] + i] = completion[i];
            }
        }

        return new PpoRows(inputs, targets, prompts.Count, blockSize, first, count);
    }

    /// <summary>Row <paramref name="row"/>'s action positions (flat).</summary>
    public int[] Positions(int row) => [.. Enumerable.Range(First[row], Count[row])];

    /// <summary>The rows <paramref name="rows"/>, in that order, as a batch of their own.</summary>
    public PpoRows Take(IReadOnlyList<int> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var t = BlockSize;
        var inputs = new long[rows.Count * t];
        var targets = new long[rows.Count * t];
        for (var i = 0; i < rows.Count; i++)
        {
            Array.Copy(Inputs, rows[i] * t, inputs, i * t, t);
            Array.Copy(Targets, rows[i] * t, targets, i * t, t);
        }

        return new PpoRows(inputs, targets, rows.Count, t, [.. rows.Select((r, i) => First[r] - (r * t) + (i * t))], [.. rows.Select(r => Count[r])]);
    }

    /// <summary>
    /// The rows of <paramref name="minibatch"/> that replica <paramref name="replica"/>'s micro-batch
    /// <paramref name="microBatch"/> trains on when the minibatch is split over R replicas × M micro-batches: its
    /// (r M + m)-th slice of rows / (R M) rows.
    /// </summary>
    /// <exception cref="ArgumentException">The minibatch does not divide into R × M equal slices, or an index is out of range.</exception>
    public static int[] MicroBatchRows(IReadOnlyList<int> minibatch, int replica, int replicas, int microBatch, int microBatches)
    {
        ArgumentNullException.ThrowIfNull(minibatch);
        var parts = replicas * microBatches;
        if (replicas < 1 || microBatches < 1 || minibatch.Count % parts != 0 || minibatch.Count == 0)
        {
            throw new ArgumentException($"A minibatch of {minibatch.Count} rows does not split into {replicas} replicas x {microBatches} micro-batches of equal rows.");
        }

        if (replica < 0 || replica >= replicas || microBatch < 0 || microBatch >= microBatches)
        {
            throw new ArgumentException($"Replica {replica} micro-batch {microBatch} is outside {replicas} x {microBatches}.");
        }

        var size = minibatch.Count / parts;
        var first = ((replica * microBatches) + microBatch) * size;
        return [.. minibatch.Skip(first).Take(size)];
    }

    /// <summary>A per-position array of this batch cut to its rows <paramref name="rows"/>, in that order.</summary>
    public float[] Take(float[] values, IReadOnlyList<int> rows)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(rows);
        if (values.Length != Cells)
        {
            throw new ArgumentException($"A per-position array of this batch has {Cells} values; got {values.Length}.");
        }

        var result = new float[rows.Count * BlockSize];
        for (var i = 0; i < rows.Count; i++)
        {
            Array.Copy(values, rows[i] * BlockSize, result, i * BlockSize, BlockSize);
        }

        return result;
    }

    /// <summary>The rollout's per-token data cut to <paramref name="rows"/>.</summary>
    public Objectives.PpoTokens Take(Objectives.PpoTokens tokens, IReadOnlyList<int> rows)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return new(Take(tokens.OldLogProbs, rows), Take(tokens.Advantages, rows), Take(tokens.OldValues, rows), Take(tokens.Returns, rows));
    }
}

/// <summary>
/// One iteration's completions: the instructions they answer, their text (the end token left out), whether each ended,
/// their rows, and the sampling policy's log-probability of every action (per flat position, 0 elsewhere).
/// </summary>
public sealed record PpoRollouts(string[] Instructions, string[] Texts, bool[] Ended, PpoRows Rows, float[] LogProbabilities);
