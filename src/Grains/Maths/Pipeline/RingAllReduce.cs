using System.Runtime.InteropServices;

namespace InsideLLMs.Distributed.Maths.Pipeline;

public enum RingPhase
{
    /// <summary>Partial sums travel round the ring; after R - 1 rounds replica r holds chunk (r + 1) mod R complete.</summary>
    ReduceScatter,

    /// <summary>Complete chunks travel round the ring; after R - 1 more rounds every replica holds every chunk.</summary>
    AllGather,
}

/// <summary>What the receiver does with an incoming chunk.</summary>
public enum RingReceive
{
    /// <summary>own[i] = own[i] + incoming[i].</summary>
    Add,

    /// <summary>own[i] = incoming[i].</summary>
    Overwrite,
}

/// <summary>A contiguous slice of the flat gradient buffer, [Offset, Offset + Length).</summary>
public readonly record struct RingChunk(int Index, int Offset, int Length);

/// <summary>One message of the ring: Sender sends its values of Chunk to Receiver, which adds or overwrites.</summary>
public readonly record struct RingTransfer(int Round, RingPhase Phase, int Sender, int Receiver, RingChunk Chunk, RingReceive Receive);

/// <summary>
/// Ring all-reduce (sum) of a flat buffer of N floats over R data-parallel replicas, as a fixed plan of 2 (R - 1)
/// rounds of R messages each, so grains can send it as messages and a test can run it in memory.
/// </summary>
/// <remarks>
/// <para>The buffer is cut into R contiguous chunks whose sizes differ by at most one (N = 7, R = 3: 3, 2, 2; N &lt; R
/// leaves empty chunks). Reduce-scatter round t (0..R-2): replica r sends chunk (r - t) mod R to (r + 1) mod R, which
/// adds. Chunk c therefore starts on replica c and is summed as ((x_c + x_{c+1}) + x_{c+2}) + ... (replica indices
/// mod R), ending complete on replica c - 1. All-gather round t: replica r sends chunk (r + 1 - t) mod R to
/// (r + 1) mod R, which overwrites. Every replica ends with the very bits the owner computed, and the fixed order makes
/// the sum the same on every run: deterministic and bit-identical across replicas.</para>
/// <para>Each replica sends 2 (R - 1) chunks, about 2 (R - 1) / R x 4N bytes, whatever R: R = 4, N = 1M floats sends
/// 6 MB per replica where a gather to one root would receive 12 MB on the root.</para>
/// </remarks>
public sealed class RingAllReduce
{
    private readonly RingChunk[] _chunks;
    private readonly RingTransfer[][] _rounds;

    /// <exception cref="ArgumentException">R is below 1 or N is negative.</exception>
    public RingAllReduce(int replicas, int length)
    {
        if (replicas < 1)
        {
            throw new ArgumentException($"A ring needs at least one replica; got {replicas}.", nameof(replicas));
        }

        if (length < 0)
        {
            throw new ArgumentException($"A gradient buffer cannot have {length} elements.", nameof(length));
        }

        Replicas = replicas;
        Length = length;
        _chunks = Chunk(length, replicas);
        _rounds = new RingTransfer[2 * (replicas - 1)][];
        for (var t = 0; t < replicas - 1; t++)
        {
            _rounds[t] = Round(t, RingPhase.ReduceScatter, r => r - t, RingReceive.Add);
            _rounds[replicas - 1 + t] = Round(replicas - 1 + t, RingPhase.AllGather, r => r + 1 - t, RingReceive.Overwrite);
        }
    }

    /// <summary>R.</summary>
    public int Replicas { get; }

    /// <summary>N, floats per replica's buffer.</summary>
    public int Length { get; }

    public IReadOnlyList<RingChunk> Chunks => _chunks;

    /// <summary>
    /// 2 (R - 1) rounds; within a round every replica sends exactly one chunk and receives another, so a round's R
    /// messages may travel at once. A round must finish before the next starts (round t + 1 forwards what t delivered).
    /// </summary>
    public IReadOnlyList<IReadOnlyList<RingTransfer>> Rounds => _rounds;

    /// <summary>Bytes (4 per float) this replica sends over the whole all-reduce.</summary>
    public long BytesSent(int replica)
    {
        if (replica < 0 || replica >= Replicas)
        {
            throw new ArgumentOutOfRangeException(nameof(replica), replica, $"The ring has replicas 0..{Replicas - 1}.");
        }

        return _rounds.Sum(round => (long)round[replica].Chunk.Length) * sizeof(float);
    }

    /// <summary>
    /// Bytes the busiest replica sends: the sum of the chunk sizes it actually sends, 2 (R - 1) / R x 4N when R divides
    /// N and at most 8 (R - 1) bytes more otherwise (N = 1000, R = 3: 5336 bytes against 5333.3). Over all replicas the
    /// ring sends exactly 2 (R - 1) x 4N bytes. R = 1 sends nothing.
    /// </summary>
    public static long BytesSentPerReplica(int length, int replicas)
    {
        var ring = new RingAllReduce(replicas, length);
        return Enumerable.Range(0, replicas).Max(ring.BytesSent);
    }

    /// <summary>
    /// Runs the plan in memory on one buffer per replica, in place, round by round as messages would: a round's
    /// payloads are copied out as bytes (<see cref="Payload"/>) before any receiver applies them (<see cref="Receive(RingTransfer, ReadOnlySpan{byte}, Span{float})"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Not R buffers of N floats.</exception>
    public void Execute(float[][] buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        if (buffers.Length != Replicas)
        {
            throw new ArgumentException($"The ring has {Replicas} replicas; got {buffers.Length} buffers.", nameof(buffers));
        }

        for (var r = 0; r < buffers.Length; r++)
        {
            if (buffers[r] is null || buffers[r].Length != Length)
            {
                throw new ArgumentException($"Replica {r}'s buffer must hold {Length} floats; it holds {buffers[r]?.Length ?? 0}.", nameof(buffers));
            }
        }

        foreach (var round in _rounds)
        {
            var payloads = round.Select(transfer => Payload(transfer, buffers[transfer.Sender])).ToArray();
            for (var i = 0; i < round.Length; i++)
            {
                Receive(round[i], payloads[i], buffers[round[i].Receiver]);
            }
        }
    }

    /// <summary>
    /// The sender's values of the transfer's chunk as a message body: float32 bytes, because Orleans copies
    /// <c>byte[]</c> 5-7x faster than <c>float[]</c>, which Orleans serialises element by element.
    /// </summary>
    public static byte[] Payload(RingTransfer transfer, ReadOnlySpan<float> senderBuffer) =>
        MemoryMarshal.AsBytes(senderBuffer.Slice(transfer.Chunk.Offset, transfer.Chunk.Length)).ToArray();

    /// <summary>Applies a message body from <see cref="Payload"/> to the receiver's buffer.</summary>
    /// <exception cref="ArgumentException">The payload is not the chunk's length in float32 bytes.</exception>
    public static void Receive(RingTransfer transfer, ReadOnlySpan<byte> payload, Span<float> buffer)
    {
        if (payload.Length != transfer.Chunk.Length * sizeof(float))
        {
            throw new ArgumentException($"Chunk {transfer.Chunk.Index} has {transfer.Chunk.Length * sizeof(float)} bytes; the payload has {payload.Length}.", nameof(payload));
        }

        Receive(transfer, MemoryMarshal.Cast<byte, float>(payload), buffer);
    }

    /// <summary>Applies one incoming chunk to the receiver's buffer: what a replica does with each message.</summary>
    /// <exception cref="ArgumentException">The payload is not the chunk's length.</exception>
    public static void Receive(RingTransfer transfer, ReadOnlySpan<float> payload, Span<float> buffer)
    {
        if (payload.Length != transfer.Chunk.Length)
        {
            throw new ArgumentException($"Chunk {transfer.Chunk.Index} has {transfer.Chunk.Length} floats; the payload has {payload.Length}.", nameof(payload));
        }

        var own = buffer.Slice(transfer.Chunk.Offset, transfer.Chunk.Length);
        if (transfer.Receive == RingReceive.Overwrite)
        {
            payload.CopyTo(own);
            return;
        }

        for (var i = 0; i < own.Length; i++)
        {
            own[i] = payload[i] + own[i];
        }
    }

    private static RingChunk[] Chunk(int length, int replicas)
    {
        // The first N mod R chunks take one extra element: N = 7, R = 3 -> [0, 3), [3, 5), [5, 7).
        var chunks = new RingChunk[replicas];
        var offset = 0;
        for (var c = 0; c < replicas; c++)
        {
            var size = length / replicas + (c < length % replicas ? 1 : 0);
            chunks[c] = new RingChunk(c, offset, size);
            offset += size;
        }

        return chunks;
    }

    private RingTransfer[] Round(int round, RingPhase phase, Func<int, int> chunkSentBy, RingReceive receive) =>
    [
        .. Enumerable.Range(0, Replicas).Select(r =>
            new RingTransfer(round, phase, r, (r + 1) % Replicas, _chunks[Modulo(chunkSentBy(r), Replicas)], receive)),
    ];

    private static int Modulo(int value, int modulus) => ((value % modulus) + modulus) % modulus;
}
