namespace InsideLLMs.Distributed.Silo.Page;

/// <summary>Okabe and Ito's colour-blind-safe palette, for categories and token pieces.</summary>
public static class SafeColors
{
    public static readonly string[] Colors = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"];

    public static string Color(int index) => Colors[((index % Colors.Length) + Colors.Length) % Colors.Length];

    /// <summary>The colour at 35% opacity, as a background that keeps text readable.</summary>
    public static string Light(int index) => Color(index) + "59";
}
