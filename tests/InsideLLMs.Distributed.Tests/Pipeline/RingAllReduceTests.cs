using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Pipeline;

public sealed class RingAllReduceTests
{
    /// <summary>R = 1..5 against N = 1 (empty chunks whenever R &gt; 1), 7 (uneven chunks) and 1000.</summary>
    public static TheoryData<int, int> Rings()
    {
        var data = new TheoryData<int, int>();
        for (var replicas = 1; replicas <= 5; replicas++)
        {
            foreach (var length in new[] { 1, 7, 1000 })
            {
                data.Add(replicas, length);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Rings))]
    public void Execute_IntegerGradients_EveryReplicaEndsWithTheExactSum(int replicas, int length)
    {
        // Small integers add exactly in float32 in any order, so the expected sum is unambiguous.
        var random = new Random(replicas * 31 + length);
        var buffers = Buffers(replicas, length, () => random.Next(-1000, 1000));
        var expected = Enumerable.Range(0, length).Select(i => buffers.Sum(buffer => buffer[i])).ToArray();

        new RingAllReduce(replicas, length).Execute(buffers);

        Assert.All(buffers, buffer => Assert.Equal(expected, buffer));
    }

    [Theory]
    [MemberData(nameof(Rings))]
    public void Execute_RandomGradients_IsBitIdenticalOnEveryReplicaAndSumsEachChunkInRingOrder(int replicas, int length)
    {
        var random = new Random(replicas * 17 + length);
        var buffers = Buffers(replicas, length, () => (float)(random.NextDouble() * 2 - 1) * MathF.Pow(10, random.Next(-3, 3)));
        var original = buffers.Select(buffer => buffer.ToArray()).ToArray();
        var ring = new RingAllReduce(replicas, length);

        ring.Execute(buffers);

        // The documented order: chunk c starts on replica c and picks up c + 1, c + 2, ... (mod R).
        var expected = new float[length];
        foreach (var chunk in ring.Chunks)
        {
            for (var i = chunk.Offset; i < chunk.Offset + chunk.Length; i++)
            {
                var sum = original[chunk.Index][i];
                for (var k = 1; k < replicas; k++)
                {
                    sum = sum + original[(chunk.Index + k) % replicas][i];
                }

                expected[i] = sum;
            }
        }

        Assert.All(buffers, buffer => Assert.Equal(Bits(expected), Bits(buffer)));
        for (var i = 0; i < length; i++)
        {
            // R - 1 float32 additions, each off by at most half an ulp (6e-8) of a partial sum no larger than sum |x|.
            var exact = original.Sum(buffer => (double)buffer[i]);
            var bound = 6e-8 * (replicas - 1) * original.Sum(buffer => Math.Abs((double)buffer[i]));
            Assert.InRange(buffers[0][i] - exact, -bound, bound);
        }
    }

    [Theory]
    [MemberData(nameof(Rings))]
    public void Rounds_AnyRing_EveryReplicaSendsOnceAndReceivesOncePerRoundToItsSuccessor(int replicas, int length)
    {
        var ring = new RingAllReduce(replicas, length);

        Assert.Equal(2 * (replicas - 1), ring.Rounds.Count);
        foreach (var round in ring.Rounds)
        {
            Assert.Equal(Enumerable.Range(0, replicas), round.Select(t => t.Sender).Order());
            Assert.Equal(Enumerable.Range(0, replicas), round.Select(t => t.Receiver).Order());
            Assert.All(round, t => Assert.Equal((t.Sender + 1) % replicas, t.Receiver));
            Assert.Equal(replicas, round.Select(t => t.Chunk.Index).Distinct().Count());
        }
    }

    [Fact]
    public void Rounds_ThreeReplicasSevenFloats_FollowThePlan()
    {
        var ring = new RingAllReduce(3, 7);

        Assert.Equal([new(0, 0, 3), new(1, 3, 2), new(2, 5, 2)], ring.Chunks);
        string Render(int round) => string.Join(' ', ring.Rounds[round].Select(t => $"{t.Sender}>{t.Receiver}:c{t.Chunk.Index}{(t.Receive == RingReceive.Add ? '+' : '=')}"));
        Assert.Equal("0>1:c0+ 1>2:c1+ 2>0:c2+", Render(0));
        Assert.Equal("0>1:c2+ 1>2:c0+ 2>0:c1+", Render(1));
        Assert.Equal("0>1:c1= 1>2:c2= 2>0:c0=", Render(2));
        Assert.Equal("0>1:c0= 1>2:c1= 2>0:c2=", Render(3));
        Assert.All(ring.Rounds.Take(2).SelectMany(r => r), t => Assert.Equal(RingPhase.ReduceScatter, t.Phase));
        Assert.All(ring.Rounds.Skip(2).SelectMany(r => r), t => Assert.Equal(RingPhase.AllGather, t.Phase));
    }

    [Theory]
    [MemberData(nameof(Rings))]
    public void Chunks_AnyRing_CoverTheBufferContiguouslyWithSizesWithinOne(int replicas, int length)
    {
        var chunks = new RingAllReduce(replicas, length).Chunks;

        Assert.Equal(replicas, chunks.Count);
        Assert.Equal(0, chunks[0].Offset);
        for (var c = 1; c < replicas; c++)
        {
            Assert.Equal(chunks[c - 1].Offset + chunks[c - 1].Length, chunks[c].Offset);
        }

        Assert.Equal(length, chunks.Sum(chunk => chunk.Length));
        Assert.True(chunks.Max(chunk => chunk.Length) - chunks.Min(chunk => chunk.Length) <= 1);
    }

    /// <summary>N = 1000: R = 3 cuts chunks of 334, 333, 333 and replica 0 sends all but two 333s twice over: 1334 floats.</summary>
    [Theory]
    [InlineData(2, 4000L)]
    [InlineData(3, 5336L)]
    [InlineData(4, 6000L)]
    [InlineData(5, 6400L)]
    public void BytesSentPerReplica_ThousandFloats_IsWithinOnePercentOfTwoRMinusOneOverRTimesTheBuffer(int replicas, long exact)
    {
        var predicted = 2.0 * (replicas - 1) / replicas * sizeof(float) * 1000;

        var bytes = RingAllReduce.BytesSentPerReplica(1000, replicas);

        Assert.Equal(exact, bytes);
        Assert.InRange(bytes, predicted, predicted * 1.01);
    }

    [Theory]
    [MemberData(nameof(Rings))]
    public void BytesSent_OverAllReplicas_IsTwoRMinusOneTimesTheBuffer(int replicas, int length)
    {
        var ring = new RingAllReduce(replicas, length);

        Assert.Equal(2L * (replicas - 1) * sizeof(float) * length, Enumerable.Range(0, replicas).Sum(ring.BytesSent));
    }

    [Fact]
    public void BytesSentPerReplica_OneReplica_SendsNothingAndLeavesTheBuffer()
    {
        float[][] buffers = [[1f, 2f, 3f]];

        new RingAllReduce(1, 3).Execute(buffers);

        Assert.Equal(0, RingAllReduce.BytesSentPerReplica(1000, 1));
        Assert.Equal([1f, 2f, 3f], buffers[0]);
    }

    [Fact]
    public void PayloadAndReceive_OneMessage_CarryTheChunkAsFloat32BytesAndAddOrOverwrite()
    {
        var ring = new RingAllReduce(3, 7);
        var add = ring.Rounds[0][1]; // replica 1 sends chunk 1, [3, 5), to replica 2, which adds
        var overwrite = ring.Rounds[2][1]; // replica 1 sends chunk 2, [5, 7), to replica 2, which overwrites
        float[] sender = [0f, 0f, 0f, 1.5f, -2f, 7f, 8f];
        float[] receiver = [0f, 0f, 0f, 10f, 10f, 10f, 10f];

        var body = RingAllReduce.Payload(add, sender);
        RingAllReduce.Receive(add, body, receiver);
        RingAllReduce.Receive(overwrite, RingAllReduce.Payload(overwrite, sender), receiver);

        Assert.Equal(8, body.Length);
        Assert.Equal([0f, 0f, 0f, 11.5f, 8f, 7f, 8f], receiver);
        Assert.Throws<ArgumentException>(() => RingAllReduce.Receive(add, new byte[4], receiver));
    }

    [Fact]
    public void Execute_WrongBufferCountOrLength_Throws()
    {
        var ring = new RingAllReduce(2, 3);

        Assert.Throws<ArgumentException>(() => ring.Execute([new float[3]]));
        Assert.Throws<ArgumentException>(() => ring.Execute([new float[3], new float[2]]));
        Assert.Throws<ArgumentException>(() => new RingAllReduce(0, 3));
        Assert.Throws<ArgumentException>(() => new RingAllReduce(2, -1));
    }

    private static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];

    private static float[][] Buffers(int replicas, int length, Func<float> value) =>
        [.. Enumerable.Range(0, replicas).Select(_ => Enumerable.Range(0, length).Select(_ => value()).ToArray())];
}
